package archive

import "testing"

// TestLowerLevelTags: an attribute the index keeps only below a level is
// left out of that level's answers; one a level keeps itself is not.
func TestLowerLevelTags(t *testing.T) {
	for _, c := range []struct {
		level Level
		tag   string
		below bool
	}{
		{LevelStudy, tagModality, true},
		{LevelStudy, "0008103E", true},  // SeriesDescription
		{LevelStudy, "00280010", true},  // Rows
		{LevelStudy, "00201209", true},  // NumberOfSeriesRelatedInstances
		{LevelStudy, "00080080", false}, // InstitutionName: a study attribute too
		{LevelStudy, "00081030", false}, // StudyDescription
		{LevelStudy, "00080061", false}, // ModalitiesInStudy
		{LevelStudy, "00180050", false}, // SliceThickness: not indexed at all, answered as before
		{LevelSeries, tagModality, false},
		{LevelSeries, "00200013", true}, // InstanceNumber
		{LevelSeries, "00081030", false},
		{LevelInstance, "00200013", false},
		{LevelInstance, tagModality, false},
	} {
		if got := lowerLevelTags(c.level)[c.tag]; got != c.below {
			t.Errorf("%s level, %s: below = %v, want %v", c.level, keyword(c.tag), got, c.below)
		}
	}
}
