package tui_test

import (
	"os"
	"strings"
	"testing"
)

// The READMEs' captures are the golden screens; this keeps them in step.
func TestReadmeShowsTheGoldenScreens(t *testing.T) {
	checkCaptures(t, "README.md", append(hfCaptures, mcaCaptures...))
	checkCaptures(t, "../README.md", hfCaptures) // the project README's tour
}

var hfCaptures = []string{
	"TestGolden/overview_80x24", "TestGolden/config_80x24", "TestGolden/weights_glob_80x24", "TestGolden/mapping_qkv_80x24",
	"TestGolden/mapping_gate_up_tp2_80x24", "TestGolden/placement_tp3_error_80x24", "TestGolden/placement_tp2_pp2_ep2_80x24",
	"TestGolden/convert_form_80x24",
}

var mcaCaptures = []string{
	"TestMCAGolden/mca_overview_80x24", "TestMCAGolden/mca_config_80x24", "TestMCAGolden/mca_weights_rank_80x24",
	"TestMCAGolden/mca_mapping_qkv_80x24", "TestMCAGolden/mca_placement_80x24", "TestMCAGolden/mca_placement_reshard_80x24",
	"TestMCAGolden/mca_convert_form_80x24", "TestMCAGolden/mca_convert_reshard_80x24",
}

func checkCaptures(t *testing.T, path string, names []string) {
	t.Helper()
	readme, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range names {
		g, err := os.ReadFile("testdata/" + name + ".golden")
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimRight(string(g), "\n"), "\n")
		for i := range lines {
			lines[i] = strings.TrimRight(lines[i], " ")
		}
		if !strings.Contains(string(readme), "```\n"+strings.Join(lines, "\n")+"\n```") {
			t.Errorf("%s does not show the current %s screen: update the capture from tui/testdata/%s.golden", path, name, name)
		}
	}
}
