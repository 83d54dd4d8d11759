package archive

// Attributes kept in the index at each level (PS3.18 table 10.6.3-3 and
// 10.6.1-5 defaults plus what viewers and recognition rules ask for).
// Everything else is available through metadata.
var (
	studyTags = []string{
		"00080005", // SpecificCharacterSet
		"00080020", // StudyDate
		"00080030", // StudyTime
		"00080050", // AccessionNumber
		"00080080", // InstitutionName
		"00080090", // ReferringPhysicianName
		"00080201", // TimezoneOffsetFromUTC
		"00081030", // StudyDescription
		"00081032", // ProcedureCodeSequence
		"00081060", // NameOfPhysiciansReadingStudy
		"00100010", // PatientName
		"00100020", // PatientID
		"00100021", // IssuerOfPatientID
		"00100030", // PatientBirthDate
		"00100040", // PatientSex
		"00101010", // PatientAge
		"0020000D", // StudyInstanceUID
		"00200010", // StudyID
		"00321060", // RequestedProcedureDescription
		"00321064", // RequestedProcedureCodeSequence
	}
	seriesTags = []string{
		"00080005", // SpecificCharacterSet
		"00080021", // SeriesDate
		"00080031", // SeriesTime
		"00080060", // Modality
		"00080070", // Manufacturer
		"00080080", // InstitutionName
		"00081010", // StationName
		"0008103E", // SeriesDescription
		"00180015", // BodyPartExamined
		"0020000D", // StudyInstanceUID
		"0020000E", // SeriesInstanceUID
		"00200011", // SeriesNumber
		"00200060", // Laterality
		"00400244", // PerformedProcedureStepStartDate
		"00400245", // PerformedProcedureStepStartTime
		"00400275", // RequestAttributesSequence
	}
	instanceTags = []string{
		"00080005", // SpecificCharacterSet
		"00080008", // ImageType
		"00080016", // SOPClassUID
		"00080018", // SOPInstanceUID
		"00080023", // ContentDate
		"00080033", // ContentTime
		"0020000D", // StudyInstanceUID
		"0020000E", // SeriesInstanceUID
		"00200013", // InstanceNumber
		"00200032", // ImagePositionPatient
		"00200037", // ImageOrientationPatient
		"00201041", // SliceLocation
		"00280002", // SamplesPerPixel
		"00280004", // PhotometricInterpretation
		"00280006", // PlanarConfiguration
		"00280008", // NumberOfFrames
		"00280010", // Rows
		"00280011", // Columns
		"00280030", // PixelSpacing
		"00280100", // BitsAllocated
		"00280101", // BitsStored
		"00280103", // PixelRepresentation
		"00281050", // WindowCenter
		"00281051", // WindowWidth
		"00281052", // RescaleIntercept
		"00281053", // RescaleSlope
		"00281056", // VOILUTFunction
		"00281101", // RedPaletteColorLookupTableDescriptor
		"00281102", // GreenPaletteColorLookupTableDescriptor
		"00281103", // BluePaletteColorLookupTableDescriptor
	}
)

// Default return attributes per level (PS3.18 10.6.3.3.1), in addition to
// matching keys and includefield.
var (
	defaultStudy = []string{
		"00080005", "00080020", "00080030", "00080050", "00080056", "00080061",
		"00080090", "00080201", "00081030", "00081190", "00100010", "00100020", "00100030",
		"00100040", "0020000D", "00200010", "00201206", "00201208",
	}
	defaultSeries = []string{
		"00080005", "00080060", "00080201", "0008103E", "00081190", "0020000D",
		"0020000E", "00200011", "00201209", "00400244", "00400245", "00400275",
	}
	defaultInstance = []string{
		"00080005", "00080016", "00080018", "00080056", "00080201", "00081190",
		"0020000D", "0020000E", "00200013", "00280008", "00280010", "00280011", "00280100",
	}
)

// Computed attributes.
const (
	tagInstanceAvailability = "00080056"
	tagModalitiesInStudy    = "00080061"
	tagRetrieveURL          = "00081190"
	tagNumStudySeries       = "00201206"
	tagNumStudyInstances    = "00201208"
	tagNumSeriesInstances   = "00201209"
	tagSpecificCharacterSet = "00080005"
	tagStudyInstanceUID     = "0020000D"
	tagSeriesInstanceUID    = "0020000E"
	tagSOPInstanceUID       = "00080018"
	tagSOPClassUID          = "00080016"
	tagModality             = "00080060"
	tagPatientName          = "00100010"
	tagStudyDate            = "00080020"
	tagNumberOfFrames       = "00280008"
	tagBitsAllocated        = "00280100"
	tagPixelData            = "7FE00010"
)
