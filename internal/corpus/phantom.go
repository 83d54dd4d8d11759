package corpus

import (
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/imgcloud/gateway/internal/phantom"
	"github.com/imgcloud/gateway/internal/progress"
	"github.com/suyashkumar/dicom"
	"github.com/suyashkumar/dicom/pkg/tag"
	"github.com/suyashkumar/dicom/pkg/uid"
)

// SOP classes of the phantom images.
const (
	ctImageStorage         = "1.2.840.10008.5.1.4.1.1.2"
	dxImageStorage         = "1.2.840.10008.5.1.4.1.1.1.1" // Digital X-Ray, For Presentation
	usImageStorage         = "1.2.840.10008.5.1.4.1.1.6.1"
	ctSize                 = 256
	dxSize                 = 512
	usWidth, usHeight      = 400, 300
	usImagesPerSeries      = 2
	defaultPhantomSlices   = 24
	defaultPhantomStudies  = 3
	phantomSliceSpacingMM  = 5.0
	phantomCTPixelMM       = 0.9
	phantomDXPixelMM       = 0.7
	phantomManufacturer    = "IMGCLOUD"
	phantomSoftwareVersion = "corpus-phantom 1"
)

// PhantomOptions controls Phantom.
type PhantomOptions struct {
	// Studies is the number of studies, cycling CT head, DX chest and US
	// abdomen; default 3.
	Studies int
	// Slices is the number of 256x256 slices per CT study; default 24.
	Slices int
	Seed   int64
	// Today anchors study dates as in Options.
	Today time.Time
	// Progress, when set, receives a progress bar.
	Progress io.Writer
}

// phantomKinds are the kinds of phantom studies, used in turn.
func phantomKinds() []kind {
	return []kind{
		{name: "ct", bodyPart: "HEAD", study: text{"头颅平扫", "CT Head plain"}, series: []text{{"头颅平扫 5mm", "Head plain 5mm"}}},
		{name: "dx", bodyPart: "CHEST", study: text{"胸部正位片", "Chest PA"}, series: []text{{"胸部正位", "Chest PA"}}},
		{name: "us", bodyPart: "ABDOMEN", study: text{"腹部超声", "US Abdomen"}, series: []text{{"肝胆胰脾", "Liver GB pancreas spleen"}}},
	}
}

// Phantom writes synthetic studies that need no source files (CT head
// phantom, chest DR, RGB ultrasound) into outDir as Explicit VR Little Endian
// Part 10 files, with Chinese patient names, and returns their manifest (also
// written as outDir/manifest.json). Output is reproducible for equal options.
func Phantom(outDir string, opt PhantomOptions) (*Manifest, error) {
	if opt.Studies <= 0 {
		opt.Studies = defaultPhantomStudies
	}
	if opt.Slices <= 0 {
		opt.Slices = defaultPhantomSlices
	}
	today := dateOnly(opt.Today)
	studies := planPhantom(opt, today)
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return nil, fmt.Errorf("phantom: %w", err)
	}
	total := 0
	for _, st := range studies {
		total += len(st.series[0].instances)
	}
	bar := progress.New(opt.Progress, int64(total), "phantom")
	defer bar.Finish()

	pix := newRand(opt.Seed ^ 0x5eed)
	m := &Manifest{Dir: outDir}
	for _, st := range studies {
		se := st.series[0]
		for _, in := range se.instances {
			img, err := phantomImage(pix, st.kind.name, in.number, len(se.instances), se.frameUID)
			if err != nil {
				return nil, fmt.Errorf("phantom: %w", err)
			}
			f, err := writePhantom(outDir, img, st, se, in)
			if err != nil {
				return nil, fmt.Errorf("phantom: %w", err)
			}
			m.Files = append(m.Files, f)
			bar.Add(1)
		}
	}
	if err := m.Write(filepath.Join(outDir, ManifestName)); err != nil {
		return nil, fmt.Errorf("phantom: %w", err)
	}
	return m, nil
}

// planPhantom decides patients and identities of the phantom studies.
func planPhantom(opt PhantomOptions, today time.Time) []*studyPlan {
	r := newRand(opt.Seed)
	nPatients := max(1, (opt.Studies*6+5)/10)
	patients := newPatients(r, nPatients, today, styleRomanize) // Chinese styles only
	kinds := phantomKinds()
	out := make([]*studyPlan, opt.Studies)
	for i := range out {
		k := kinds[i%len(kinds)]
		p := patients[i%nPatients]
		st := newStudy(r, i, k, p, today)
		n := 1
		switch k.name {
		case "ct":
			n = opt.Slices
		case "us":
			n = usImagesPerSeries
		}
		st.addSeries(r, k.series[0], "", n)
		out[i] = st
	}
	return out
}

// image is the modality-specific part of a phantom instance.
type image struct {
	sopClass, modality    string
	rows, cols, bits, spp int
	elems                 []*dicom.Element
}

// phantomImage builds the image attributes and pixel data of instance
// number (1-based) of count in a series of the given kind.
func phantomImage(r *rand.Rand, kindName string, number, count int, frameUID string) (image, error) {
	var b elementBuilder
	var img image
	switch kindName {
	case "ct":
		z := 0.0
		if count > 1 {
			z = -0.85 + 1.7*float64(number-1)/float64(count-1)
		}
		zmm := phantomSliceSpacingMM * float64(number-1)
		half := phantomCTPixelMM * ctSize / 2
		img = image{sopClass: ctImageStorage, modality: "CT", rows: ctSize, cols: ctSize, bits: 16, spp: 1}
		b.strs(tag.ImageType, "ORIGINAL", "PRIMARY", "AXIAL")
		b.strs(tag.SliceThickness, ds(phantomSliceSpacingMM))
		b.strs(tag.KVP, "120")
		b.strs(tag.PatientPosition, "HFS")
		b.strs(tag.AcquisitionNumber, "1")
		b.strs(tag.ImagePositionPatient, ds(-half), ds(-half), ds(zmm))
		b.strs(tag.ImageOrientationPatient, "1", "0", "0", "0", "1", "0")
		b.strs(tag.FrameOfReferenceUID, frameUID)
		b.strs(tag.PositionReferenceIndicator, "")
		b.strs(tag.SliceLocation, ds(zmm))
		b.strs(tag.PixelSpacing, ds(phantomCTPixelMM), ds(phantomCTPixelMM))
		b.ints(tag.PixelRepresentation, 1)
		b.ints(tag.BitsStored, 16)
		b.ints(tag.HighBit, 15)
		b.strs(tag.WindowCenter, "40")
		b.strs(tag.WindowWidth, "80")
		b.strs(tag.RescaleIntercept, "-1024")
		b.strs(tag.RescaleSlope, "1")
		b.strs(tag.RescaleType, "HU")
		b.pixels(phantom.HeadCT(r, z, ctSize), "OW")
	case "dx":
		img = image{sopClass: dxImageStorage, modality: "DX", rows: dxSize, cols: dxSize, bits: 16, spp: 1}
		b.strs(tag.ImageType, "ORIGINAL", "PRIMARY")
		b.strs(tag.PresentationIntentType, "FOR PRESENTATION")
		b.strs(tag.KVP, "125")
		b.strs(tag.ImagerPixelSpacing, ds(phantomDXPixelMM), ds(phantomDXPixelMM))
		b.strs(tag.ViewPosition, "PA")
		b.strs(tag.PatientOrientation, "L", "F")
		b.strs(tag.PixelSpacing, ds(phantomDXPixelMM), ds(phantomDXPixelMM))
		b.ints(tag.PixelRepresentation, 0)
		b.ints(tag.BitsStored, 12)
		b.ints(tag.HighBit, 11)
		b.strs(tag.BurnedInAnnotation, "NO")
		b.strs(tag.WindowCenter, "2048")
		b.strs(tag.WindowWidth, "4096")
		b.strs(tag.RescaleIntercept, "0")
		b.strs(tag.RescaleSlope, "1")
		b.strs(tag.RescaleType, "US")
		b.strs(tag.LossyImageCompression, "00")
		b.strs(tag.PresentationLUTShape, "IDENTITY")
		b.pixels(phantom.Chest(r, phantom.ChestBase(dxSize, false)), "OW")
	default: // "us"
		img = image{sopClass: usImageStorage, modality: "US", rows: usHeight, cols: usWidth, bits: 8, spp: 3}
		b.strs(tag.ImageType, "ORIGINAL", "PRIMARY", "ABDOMINAL")
		b.strs(tag.PatientOrientation, "")
		b.ints(tag.PlanarConfiguration, 0)
		b.ints(tag.PixelRepresentation, 0)
		b.ints(tag.BitsStored, 8)
		b.ints(tag.HighBit, 7)
		b.strs(tag.BurnedInAnnotation, "NO")
		b.strs(tag.LossyImageCompression, "00")
		b.pixels(phantom.Ultrasound(r, usWidth, usHeight, 6*float64(number-1)), "OB")
	}
	b.strs(tag.SOPClassUID, img.sopClass)
	b.strs(tag.MediaStorageSOPClassUID, img.sopClass)
	b.strs(tag.Modality, img.modality)
	b.strs(tag.Manufacturer, phantomManufacturer)
	b.strs(tag.ManufacturerModelName, "Phantom "+img.modality)
	b.strs(tag.SoftwareVersions, phantomSoftwareVersion)
	b.ints(tag.SamplesPerPixel, img.spp)
	photometric := "MONOCHROME2"
	if img.spp == 3 {
		photometric = "RGB"
	}
	b.strs(tag.PhotometricInterpretation, photometric)
	b.ints(tag.Rows, img.rows)
	b.ints(tag.Columns, img.cols)
	b.ints(tag.BitsAllocated, img.bits)
	b.bytes(tag.FileMetaInformationVersion, []byte{0, 1})
	b.strs(tag.TransferSyntaxUID, uid.ExplicitVRLittleEndian)
	img.elems = b.elems
	return img, b.err
}

// ds formats a number as a DICOM decimal string.
func ds(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }

// writePhantom writes one phantom instance and describes it.
func writePhantom(outDir string, img image, st *studyPlan, se *seriesPlan, in *instancePlan) (File, error) {
	elems, err := applyEdits(img.elems, identityEdits(st, se, in), nil)
	if err != nil {
		return File{}, fmt.Errorf("phantom %s: %w", in.path, err)
	}
	size, err := writeFile(filepath.Join(outDir, filepath.FromSlash(in.path)), elems)
	if err != nil {
		return File{}, err
	}
	f := describe(st, se, in)
	f.Size = size
	f.SOPClassUID = img.sopClass
	f.Modality = img.modality
	f.NumberOfFrames = 1
	f.Rows, f.Columns = img.rows, img.cols
	f.BitsAllocated, f.SamplesPerPixel = img.bits, img.spp
	f.TransferSyntax = uid.ExplicitVRLittleEndian
	return f, nil
}
