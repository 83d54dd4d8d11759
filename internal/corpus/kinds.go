package corpus

// kind describes one kind of study derived from real source files.
type kind struct {
	name     string
	sources  []string // series i uses sources[i%len(sources)]
	big      bool     // uses the large source files
	bodyPart string   // BodyPartExamined to write; "" keeps the source's
	study    text     // StudyDescription
	series   []text   // SeriesDescription, series i uses series[i%len(series)]
}

// smallKinds are the kinds of ordinary studies, used in turn.
func smallKinds() []kind {
	return []kind{
		{
			name: "pet", sources: []string{"1.dcm", "2.dcm"}, bodyPart: "BREAST",
			study:  text{"乳腺 PET-CT 显像", "PET-CT Breast"},
			series: []text{{"PET 全身 衰减校正", "PET WB AC"}, {"PET 动态采集", "PET Dynamic"}},
		},
		{
			name: "mr", sources: []string{"3.dcm"}, bodyPart: "PROSTATE",
			study:  text{"前列腺 MRI 平扫+DWI", "MRI Prostate with DWI"},
			series: []text{{"弥散加权成像 DWI", "SSh DWI"}, {"弥散加权成像 DWI 复扫", "SSh DWI repeat"}},
		},
		{
			name: "sc", sources: []string{"6.dcm"},
			study:  text{"外院影像资料", "Outside images"},
			series: []text{{"二次采集图像", "Secondary capture"}, {"扫描胶片", "Scanned film"}},
		},
	}
}

// bigKinds are the kinds of studies that use the large source files.
func bigKinds() []kind {
	return []kind{
		{
			name: "cr", sources: []string{"4.dcm"}, big: true, bodyPart: "CHEST",
			study:  text{"胸部正位片", "Chest PA"},
			series: []text{{"胸部正位", "Chest PA"}, {"胸部侧位", "Chest LAT"}},
		},
		{
			name: "ct", sources: []string{"5.dcm"}, big: true, bodyPart: "HEAD",
			study:  text{"头颅平扫+CT灌注", "CT Head plain + perfusion"},
			series: []text{{"头颅平扫 5mm", "CT Head plain 5mm"}, {"脑灌注 rCBF", "Perfusion rCBF"}},
		},
	}
}
