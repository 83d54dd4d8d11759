package corpus

import (
	"math/rand/v2"
	"strings"
)

// Name styles: how a patient's or physician's name is spelt in PN values.
const (
	styleBoth     = iota // "Zhang^Wei=张^伟", ISO_IR 192
	styleHan             // "张伟", ISO_IR 192
	styleRomanize        // "ZHANG^WEI", ISO_IR 100
	styleCount
)

// charsetFor returns the SpecificCharacterSet matching a name style.
func charsetFor(style int) string {
	if style == styleRomanize {
		return "ISO_IR 100"
	}
	return "ISO_IR 192"
}

// chinese reports whether texts for this style are written in Chinese.
func chinese(style int) bool { return style != styleRomanize }

// namePart is one part of a Chinese name in Han characters and pinyin.
type namePart struct{ han, pinyin string }

// surnames are common Chinese family names.
func surnames() []namePart {
	return []namePart{
		{"张", "Zhang"}, {"王", "Wang"}, {"李", "Li"}, {"刘", "Liu"}, {"陈", "Chen"},
		{"杨", "Yang"}, {"黄", "Huang"}, {"赵", "Zhao"}, {"吴", "Wu"}, {"周", "Zhou"},
		{"徐", "Xu"}, {"孙", "Sun"}, {"马", "Ma"}, {"朱", "Zhu"}, {"胡", "Hu"},
		{"郭", "Guo"}, {"何", "He"}, {"林", "Lin"}, {"罗", "Luo"}, {"高", "Gao"},
	}
}

// givenNames are common given names, by sex ("M" or "F").
func givenNames(sex string) []namePart {
	if sex == "F" {
		return []namePart{
			{"芳", "Fang"}, {"娜", "Na"}, {"敏", "Min"}, {"静", "Jing"}, {"丽", "Li"},
			{"艳", "Yan"}, {"娟", "Juan"}, {"秀英", "Xiuying"}, {"霞", "Xia"},
			{"婷婷", "Tingting"}, {"海燕", "Haiyan"}, {"雪梅", "Xuemei"},
		}
	}
	return []namePart{
		{"伟", "Wei"}, {"强", "Qiang"}, {"磊", "Lei"}, {"军", "Jun"}, {"洋", "Yang"},
		{"勇", "Yong"}, {"杰", "Jie"}, {"涛", "Tao"}, {"明", "Ming"}, {"超", "Chao"},
		{"建华", "Jianhua"}, {"志强", "Zhiqiang"}, {"国平", "Guoping"},
	}
}

// personName is a Chinese name that can be spelt in any style.
type personName struct{ family, given namePart }

// randomName picks a name for the given sex.
func randomName(r *rand.Rand, sex string) personName {
	fam := surnames()
	giv := givenNames(sex)
	return personName{family: fam[r.IntN(len(fam))], given: giv[r.IntN(len(giv))]}
}

// pn spells the name as a DICOM PN value in the given style.
func (n personName) pn(style int) string {
	switch style {
	case styleBoth:
		return n.family.pinyin + "^" + n.given.pinyin + "=" + n.family.han + "^" + n.given.han
	case styleHan:
		return n.family.han + n.given.han
	default:
		return strings.ToUpper(n.family.pinyin + "^" + n.given.pinyin)
	}
}

// hospital is a (fictitious record of a) tertiary hospital in China.
type hospital struct {
	zh, en   string
	issuer   string // IssuerOfPatientID
	province string
}

// name returns the hospital name in Chinese or English.
func (h hospital) name(zh bool) string {
	if zh {
		return h.zh
	}
	return h.en
}

// hospitals lists the institutions studies are attributed to.
func hospitals() []hospital {
	return []hospital{
		{"北京协和医院", "Peking Union Medical College Hospital", "PUMCH", "北京"},
		{"复旦大学附属中山医院", "Zhongshan Hospital, Fudan University", "ZSH-FDU", "上海"},
		{"四川大学华西医院", "West China Hospital, Sichuan University", "WCH-SCU", "四川"},
		{"浙江大学医学院附属第一医院", "First Affiliated Hospital, Zhejiang Univ. Sch. of Med.", "FAHZU", "浙江"},
		{"中山大学附属第一医院", "First Affiliated Hospital, Sun Yat-sen University", "FAH-SYSU", "广东"},
		{"华中科技大学同济医学院附属同济医院", "Tongji Hospital, Tongji Medical College, HUST", "TJH-HUST", "湖北"},
		{"中南大学湘雅医院", "Xiangya Hospital, Central South University", "XYH-CSU", "湖南"},
		{"山东大学齐鲁医院", "Qilu Hospital of Shandong University", "QLH-SDU", "山东"},
		{"江苏省人民医院", "Jiangsu Province Hospital", "JSPH", "江苏"},
		{"中国医科大学附属第一医院", "First Hospital of China Medical University", "FH-CMU", "辽宁"},
		{"西安交通大学第一附属医院", "First Affiliated Hospital of Xi'an Jiaotong University", "FAH-XJTU", "陕西"},
		{"郑州大学第一附属医院", "First Affiliated Hospital of Zhengzhou University", "FAH-ZZU", "河南"},
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
