package dcm

// SyntaxName names well-known transfer syntaxes, for messages.
func SyntaxName(uid string) string {
	switch uid {
	case "1.2.840.10008.1.2":
		return "Implicit VR Little Endian"
	case "1.2.840.10008.1.2.1":
		return "Explicit VR Little Endian"
	case "1.2.840.10008.1.2.1.99":
		return "Deflated Explicit VR Little Endian"
	case "1.2.840.10008.1.2.2":
		return "Explicit VR Big Endian"
	case "1.2.840.10008.1.2.4.50":
		return "JPEG Baseline (Process 1)"
	case "1.2.840.10008.1.2.4.51":
		return "JPEG Extended (Process 2 & 4)"
	case "1.2.840.10008.1.2.4.57":
		return "JPEG Lossless, Non-Hierarchical (Process 14)"
	case "1.2.840.10008.1.2.4.70":
		return "JPEG Lossless, First-Order Prediction"
	case "1.2.840.10008.1.2.4.80":
		return "JPEG-LS Lossless"
	case "1.2.840.10008.1.2.4.81":
		return "JPEG-LS Near-Lossless"
	case "1.2.840.10008.1.2.4.90":
		return "JPEG 2000 Lossless"
	case "1.2.840.10008.1.2.4.91":
		return "JPEG 2000"
	case "1.2.840.10008.1.2.4.201", "1.2.840.10008.1.2.4.202", "1.2.840.10008.1.2.4.203":
		return "High-Throughput JPEG 2000"
	case "1.2.840.10008.1.2.5":
		return "RLE Lossless"
	case "1.2.840.10008.1.2.4.100", "1.2.840.10008.1.2.4.100.1", "1.2.840.10008.1.2.4.101", "1.2.840.10008.1.2.4.101.1":
		return "MPEG-2"
	case "1.2.840.10008.1.2.4.102", "1.2.840.10008.1.2.4.103", "1.2.840.10008.1.2.4.104", "1.2.840.10008.1.2.4.105",
		"1.2.840.10008.1.2.4.106", "1.2.840.10008.1.2.4.102.1", "1.2.840.10008.1.2.4.103.1", "1.2.840.10008.1.2.4.104.1",
		"1.2.840.10008.1.2.4.105.1", "1.2.840.10008.1.2.4.106.1":
		return "MPEG-4 AVC/H.264"
	case "1.2.840.10008.1.2.4.107", "1.2.840.10008.1.2.4.108":
		return "HEVC/H.265"
	}
	return "unknown transfer syntax"
}
