// Keywords of the attributes the tag panel names (PS3.6); others show
// their tag only.
"use strict";
const DICOM_KEYWORDS = {
  "00020010": "TransferSyntaxUID", "00080005": "SpecificCharacterSet", "00080008": "ImageType",
  "00080016": "SOPClassUID", "00080018": "SOPInstanceUID", "00080020": "StudyDate", "00080021": "SeriesDate",
  "00080022": "AcquisitionDate", "00080023": "ContentDate", "00080030": "StudyTime", "00080031": "SeriesTime",
  "00080033": "ContentTime", "00080050": "AccessionNumber", "00080060": "Modality", "00080061": "ModalitiesInStudy",
  "00080064": "ConversionType", "00080070": "Manufacturer", "00080080": "InstitutionName",
  "00080090": "ReferringPhysicianName", "00081010": "StationName", "00081030": "StudyDescription",
  "0008103E": "SeriesDescription", "00081090": "ManufacturerModelName", "00100010": "PatientName",
  "00100020": "PatientID", "00100021": "IssuerOfPatientID", "00100030": "PatientBirthDate", "00100040": "PatientSex",
  "00101010": "PatientAge", "00101020": "PatientSize", "00101030": "PatientWeight", "00180015": "BodyPartExamined",
  "00180050": "SliceThickness", "00180060": "KVP", "00180088": "SpacingBetweenSlices", "00181020": "SoftwareVersions",
  "00181030": "ProtocolName", "00181150": "ExposureTime", "00181151": "XRayTubeCurrent", "00181164": "ImagerPixelSpacing",
  "00185100": "PatientPosition", "00185101": "ViewPosition", "0020000D": "StudyInstanceUID",
  "0020000E": "SeriesInstanceUID", "00200010": "StudyID", "00200011": "SeriesNumber", "00200012": "AcquisitionNumber",
  "00200013": "InstanceNumber", "00200020": "PatientOrientation", "00200032": "ImagePositionPatient",
  "00200037": "ImageOrientationPatient", "00200052": "FrameOfReferenceUID", "00201041": "SliceLocation",
  "00280002": "SamplesPerPixel", "00280004": "PhotometricInterpretation", "00280006": "PlanarConfiguration",
  "00280008": "NumberOfFrames", "00280010": "Rows", "00280011": "Columns", "00280030": "PixelSpacing",
  "00280100": "BitsAllocated", "00280101": "BitsStored", "00280102": "HighBit", "00280103": "PixelRepresentation",
  "00281050": "WindowCenter", "00281051": "WindowWidth", "00281052": "RescaleIntercept", "00281053": "RescaleSlope",
  "00281054": "RescaleType", "00281056": "VOILUTFunction", "00282110": "LossyImageCompression",
  "00110010": "PrivateCreator (IMGCLOUD RECOGNITION)", "00111001": "RecognitionStatus", "00111002": "RecognitionItemCode",
  "00111003": "RecognitionItemName", "00111004": "RecognitionValidUntil", "7FE00010": "PixelData",
};
