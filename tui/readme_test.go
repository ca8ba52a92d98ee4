package tui_test

import (
	"os"
	"strings"
	"testing"
)

// The README's captures are the golden screens; this keeps them in step.
func TestReadmeShowsTheGoldenScreens(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{
		"TestGolden/overview_80x24", "TestGolden/config_80x24", "TestGolden/weights_glob_80x24", "TestGolden/mapping_qkv_80x24",
		"TestGolden/mapping_gate_up_tp2_80x24", "TestGolden/placement_tp3_error_80x24", "TestGolden/placement_tp2_pp2_ep2_80x24",
		"TestGolden/convert_form_80x24",
		"TestMCAGolden/mca_overview_80x24", "TestMCAGolden/mca_config_80x24", "TestMCAGolden/mca_weights_rank_80x24",
		"TestMCAGolden/mca_mapping_qkv_80x24", "TestMCAGolden/mca_placement_80x24", "TestMCAGolden/mca_placement_reshard_80x24",
		"TestMCAGolden/mca_convert_form_80x24", "TestMCAGolden/mca_convert_reshard_80x24",
	} {
		g, err := os.ReadFile("testdata/" + name + ".golden")
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimRight(string(g), "\n"), "\n")
		for i := range lines {
			lines[i] = strings.TrimRight(lines[i], " ")
		}
		if !strings.Contains(string(readme), "```\n"+strings.Join(lines, "\n")+"\n```") {
			t.Errorf("README.md does not show the current %s screen: update the capture from testdata/%s.golden", name, name)
		}
	}
}
