package demo

import (
	"encoding/binary"
	"math/rand/v2"
	"strconv"
	"sync"

	"github.com/imgcloud/gateway/internal/phantom"
)

// cache holds the noise-free images that several instances share, made
// once per Files call when first needed.
type cache struct {
	chest [demoSeries]func() []float32 // PA, lateral
	film  func() []byte
}

func newCache() *cache {
	return &cache{
		chest: [demoSeries]func() []float32{
			sync.OnceValue(func() []float32 { return phantom.ChestBase(crSize, false) }),
			sync.OnceValue(func() []float32 { return phantom.ChestBase(crSize, true) }),
		},
		film: sync.OnceValue(func() []byte { return phantom.FilmBase(filmSize) }),
	}
}

// text is a description in Chinese and English.
type text struct{ zh, en string }

// in returns the Chinese or English variant.
func (t text) in(zh bool) string {
	if zh {
		return t.zh
	}
	return t.en
}

// kind is one kind of demo study. image adds the image attributes and
// pixel data of instance number of series (both 1-based) and returns the
// SOP class.
type kind struct {
	name, modality, bodyPart string
	study                    text
	series                   [demoSeries]text
	image                    func(b *builder, r *rand.Rand, c *cache, series, number int) string
}

// SOP classes of the demo images.
const (
	ctImage          = "1.2.840.10008.5.1.4.1.1.2"
	enhancedCTImage  = "1.2.840.10008.5.1.4.1.1.2.1"
	mrImage          = "1.2.840.10008.5.1.4.1.1.4"
	crImage          = "1.2.840.10008.5.1.4.1.1.1"
	petImage         = "1.2.840.10008.5.1.4.1.1.128"
	secondaryCapture = "1.2.840.10008.5.1.4.1.1.7"
)

// Image sizes and geometry.
const (
	ctSize, ctPixelMM, ctSliceMM = 256, 0.9, 5.0
	ctFrames                     = 4 // frames of each multi-frame CT instance
	mrSize, mrPixelMM            = 192, 1.2
	crSize, crPixelMM            = 512, 0.7
	petSize, petPixelMM          = 128, 4.0
	filmSize                     = 384
)

// smallKinds are the kinds of ordinary studies, used in turn (as corpus's
// PET, MR and secondary capture kinds were).
func smallKinds() []kind {
	return []kind{
		{
			name: "pet", modality: "PT", bodyPart: "WHOLEBODY",
			study:  text{"PET-CT 全身显像", "PET-CT Whole Body"},
			series: [2]text{{"PET 全身 衰减校正", "PET WB AC"}, {"PET 全身 非衰减校正", "PET WB NAC"}},
			image:  petImageAttrs,
		},
		{
			name: "mr", modality: "MR", bodyPart: "PROSTATE",
			study:  text{"前列腺 MRI 平扫+DWI", "MRI Prostate with DWI"},
			series: [2]text{{"T2WI 轴位", "Ax T2 FSE"}, {"T2WI 轴位 复扫", "Ax T2 FSE repeat"}},
			image:  mrImageAttrs(phantom.PelvisT2),
		},
		{
			name: "sc", modality: "OT",
			study:  text{"外院影像资料", "Outside images"},
			series: [2]text{{"二次采集图像", "Secondary capture"}, {"扫描胶片", "Scanned film"}},
			image:  filmAttrs,
		},
	}
}

// mrHead replaces the prostate MR for a female patient.
func mrHead() kind {
	return kind{
		name: "mr", modality: "MR", bodyPart: "HEAD",
		study:  text{"头颅 MRI 平扫", "MRI Head plain"},
		series: [2]text{{"T2WI 轴位", "Ax T2 FSE"}, {"T2WI 轴位 复扫", "Ax T2 FSE repeat"}},
		image:  mrImageAttrs(phantom.HeadT2),
	}
}

// bigKinds are the kinds of the larger studies.
func bigKinds() []kind {
	return []kind{
		{
			name: "cr", modality: "CR", bodyPart: "CHEST",
			study:  text{"胸部正侧位片", "Chest PA and lateral"},
			series: [2]text{{"胸部正位", "Chest PA"}, {"胸部侧位", "Chest LAT"}},
			image:  crImageAttrs,
		},
		{
			name: "ct", modality: "CT", bodyPart: "HEAD",
			study:  text{"头颅CT平扫", "CT Head plain"},
			series: [2]text{{"头颅平扫 5mm", "Head plain 5mm"}, {"头颅平扫 薄层 多帧", "Head plain thin, multi-frame"}},
			image:  ctImageAttrs,
		},
	}
}

// ds formats a number as a DICOM decimal string.
func ds(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }

// mono sets the pixel module of a single-sample image and its pixel data.
func mono(b *builder, rows, cols, bits, stored int, signed bool, pixels []byte) {
	b.us("SamplesPerPixel", 1)
	b.str("PhotometricInterpretation", "MONOCHROME2")
	b.us("Rows", uint16(rows))
	b.us("Columns", uint16(cols))
	b.us("BitsAllocated", uint16(bits))
	b.us("BitsStored", uint16(stored))
	b.us("HighBit", uint16(stored-1))
	rep := uint16(0)
	if signed {
		rep = 1
	}
	b.us("PixelRepresentation", rep)
	vr := "OW"
	if bits == 8 {
		vr = "OB"
	}
	b.raw("PixelData", vr, pixels)
}

// slicePosition returns z in [-1, 1] of slice k of n, spread over the
// middle of the volume (through the ventricles of the head phantom).
func slicePosition(k, n int) float64 {
	if n < 2 {
		return 0
	}
	return -0.25 + 0.5*float64(k)/float64(n-1)
}

// ctImageAttrs: series 1 single-frame axial head slices (CT Image Storage),
// series 2 one multi-frame Enhanced CT instance per block of ctFrames
// thinner slices.
func ctImageAttrs(b *builder, r *rand.Rand, c *cache, series, number int) string {
	half := ctPixelMM * ctSize / 2
	b.str("KVP", "120")
	b.str("PatientPosition", "HFS")
	b.str("AcquisitionNumber", "1")
	b.str("WindowCenter", "40")
	b.str("WindowWidth", "80")
	b.str("WindowCenterWidthExplanation", "BRAIN")
	if series == 1 {
		z := ctSliceMM * float64(number-1) * 4
		b.str("ImageType", "ORIGINAL", "PRIMARY", "AXIAL")
		b.str("SliceThickness", ds(ctSliceMM))
		b.str("ImagePositionPatient", ds(-half), ds(-half), ds(z))
		b.str("ImageOrientationPatient", "1", "0", "0", "0", "1", "0")
		b.str("SliceLocation", ds(z))
		b.str("PixelSpacing", ds(ctPixelMM), ds(ctPixelMM))
		b.str("RescaleIntercept", "-1024")
		b.str("RescaleSlope", "1")
		b.str("RescaleType", "HU")
		mono(b, ctSize, ctSize, 16, 16, true, phantom.HeadCT(r, slicePosition(number-1, demoInstances), ctSize))
		return ctImage
	}
	// Enhanced CT: geometry and rescale in the functional groups (PS3.3
	// C.7.6.16), repeated at the top level for viewers that read only it.
	const thin = 1.25
	b.str("ImageType", "ORIGINAL", "PRIMARY", "AXIAL", "NONE")
	b.str("NumberOfFrames", strconv.Itoa(ctFrames))
	b.str("RescaleIntercept", "-1024")
	b.str("RescaleSlope", "1")
	b.str("RescaleType", "HU")
	measures, orient, transform, voi := &builder{}, &builder{}, &builder{}, &builder{}
	measures.str("PixelSpacing", ds(ctPixelMM), ds(ctPixelMM))
	measures.str("SliceThickness", ds(thin))
	orient.str("ImageOrientationPatient", "1", "0", "0", "0", "1", "0")
	transform.str("RescaleIntercept", "-1024")
	transform.str("RescaleSlope", "1")
	transform.str("RescaleType", "HU")
	voi.str("WindowCenter", "40")
	voi.str("WindowWidth", "80")
	shared := &builder{}
	shared.seq("PixelMeasuresSequence", measures)
	shared.seq("PlaneOrientationSequence", orient)
	shared.seq("PixelValueTransformationSequence", transform)
	shared.seq("FrameVOILUTSequence", voi)
	b.seq("SharedFunctionalGroupsSequence", shared)
	var perFrame []*builder
	pixels := make([]byte, 0, 2*ctSize*ctSize*ctFrames)
	total := ctFrames * demoInstances
	for f := range ctFrames {
		k := (number-1)*ctFrames + f
		z := thin * float64(k)
		pos, content, frame := &builder{}, &builder{}, &builder{}
		pos.str("ImagePositionPatient", ds(-half), ds(-half), ds(z))
		content.raw("InStackPositionNumber", "UL", binary.LittleEndian.AppendUint32(nil, uint32(k+1)))
		frame.seq("PlanePositionSequence", pos)
		frame.seq("FrameContentSequence", content)
		perFrame = append(perFrame, frame)
		pixels = append(pixels, phantom.HeadCT(r, slicePosition(k, total), ctSize)...)
	}
	b.seq("PerFrameFunctionalGroupsSequence", perFrame...)
	mono(b, ctSize, ctSize, 16, 16, true, pixels)
	return enhancedCTImage
}

// mrImageAttrs returns the image of an axial T2-weighted series rendered
// by slice.
func mrImageAttrs(slice func(r *rand.Rand, z float64, n int) []byte) func(*builder, *rand.Rand, *cache, int, int) string {
	return func(b *builder, r *rand.Rand, c *cache, series, number int) string {
		half := mrPixelMM * mrSize / 2
		z := 4.0 * float64(number-1)
		b.str("ImageType", "ORIGINAL", "PRIMARY", "M", "NONE")
		b.str("ScanningSequence", "SE")
		b.str("SequenceVariant", "SK")
		b.str("MRAcquisitionType", "2D")
		b.str("SliceThickness", "4")
		b.str("RepetitionTime", "4000")
		b.str("EchoTime", "100")
		b.str("MagneticFieldStrength", "3")
		b.str("PatientPosition", "HFS")
		b.str("ImagePositionPatient", ds(-half), ds(-half), ds(z))
		b.str("ImageOrientationPatient", "1", "0", "0", "0", "1", "0")
		b.str("SliceLocation", ds(z))
		b.str("PixelSpacing", ds(mrPixelMM), ds(mrPixelMM))
		b.str("WindowCenter", "900")
		b.str("WindowWidth", "1800")
		mono(b, mrSize, mrSize, 16, 12, false, slice(r, slicePosition(number-1, demoInstances), mrSize))
		return mrImage
	}
}

// crImageAttrs: series 1 PA, series 2 lateral chest radiographs.
func crImageAttrs(b *builder, r *rand.Rand, c *cache, series, number int) string {
	view, orient := "PA", []string{"L", "F"}
	if series == 2 {
		view, orient = "LL", []string{"A", "F"}
	}
	b.str("ImageType", "ORIGINAL", "PRIMARY")
	b.str("KVP", "125")
	b.str("ViewPosition", view)
	b.str("PatientOrientation", orient...)
	b.str("ImagerPixelSpacing", ds(crPixelMM), ds(crPixelMM))
	b.str("WindowCenter", "2048")
	b.str("WindowWidth", "4096")
	b.str("RescaleIntercept", "0")
	b.str("RescaleSlope", "1")
	b.str("RescaleType", "US")
	b.str("BurnedInAnnotation", "NO")
	mono(b, crSize, crSize, 16, 12, false, phantom.Chest(r, c.chest[series-1]()))
	return crImage
}

// petImageAttrs: axial slices in SUV body weight (Units GML), stored as
// SUV × 1000; the window shows SUV 0 to 6. Series 2 is not attenuation
// corrected.
func petImageAttrs(b *builder, r *rand.Rand, c *cache, series, number int) string {
	half := petPixelMM * petSize / 2
	z := -400 + 3.27*float64(number-1)
	corrected := []string{"ATTN", "DECY"}
	if series == 2 {
		corrected = []string{"DECY"}
	}
	b.str("ImageType", "ORIGINAL", "PRIMARY")
	b.str("SeriesType", "WHOLE BODY", "IMAGE")
	b.str("Units", "GML")
	b.str("CountsSource", "EMISSION")
	b.str("CorrectedImage", corrected...)
	b.str("DecayCorrection", "START")
	b.str("SliceThickness", "3.27")
	b.str("PatientPosition", "FFS")
	b.str("ImagePositionPatient", ds(-half), ds(-half), ds(z))
	b.str("ImageOrientationPatient", "1", "0", "0", "0", "1", "0")
	b.str("SliceLocation", ds(z))
	b.str("PixelSpacing", ds(petPixelMM), ds(petPixelMM))
	b.str("RescaleIntercept", "0")
	b.str("RescaleSlope", "0.001")
	b.str("WindowCenter", "3")
	b.str("WindowWidth", "6")
	img := phantom.PETSUV(r, slicePosition(number-1, demoInstances), petSize)
	if series == 2 { // no attenuation correction: the body centre looks cold
		for i := 0; i < len(img); i += 2 {
			row, col := (i/2)/petSize, (i/2)%petSize
			d := float64((row-petSize/2)*(row-petSize/2)+(col-petSize/2)*(col-petSize/2)) / float64(petSize*petSize/4)
			v := float64(binary.LittleEndian.Uint16(img[i:])) * (0.45 + 0.55*min(1, d))
			binary.LittleEndian.PutUint16(img[i:], uint16(v))
		}
	}
	mono(b, petSize, petSize, 16, 16, false, img)
	return petImage
}

// filmAttrs: 8-bit secondary captures of a film from another hospital.
func filmAttrs(b *builder, r *rand.Rand, c *cache, series, number int) string {
	b.str("ConversionType", "DF")
	b.str("ImageType", "DERIVED", "SECONDARY")
	b.str("BurnedInAnnotation", "NO")
	mono(b, filmSize, filmSize, 8, 8, false, phantom.Film(r, c.film()))
	return secondaryCapture
}
