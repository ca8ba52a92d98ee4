package common

import (
	"testing"

	_ "github.com/omnitui/omnitui/core/families"
)

func TestAppWordingNamesTheAppsSettings(t *testing.T) {
	tests := []struct{ in, want string }{
		{"Give the first stage at least 2 layers (fewer PP/VPP stages or a --layout), or pass --ignore-deepstack",
			"Give the first stage at least 2 layers (fewer PP/VPP stages or a layout), or turn on ignore deepstack in 5 Placement"},
		{"--etp 1 differs from --tp 2: set --etp 2 (or leave it unset)", "ETP 1 differs from TP 2: set ETP 2 (or leave it unset)"},
		{"--vpp 2 needs --pp > 1: drop --vpp or raise --pp", "VPP 2 needs PP > 1: drop VPP or raise PP"},
		{"--layout cannot be combined with --account-embedding/--account-loss", "layout cannot be combined with account embedding/account loss"},
		{"leave out talker: use --drop-audio-output", "leave out talker: turn on drop audio output in 5 Placement"},
		{"choose another --out", "choose another --out"}, // no app setting: as it is
	}
	for _, tc := range tests {
		if got := AppWording(tc.in); got != tc.want {
			t.Errorf("AppWording(%q)\n = %q\nwant %q", tc.in, got, tc.want)
		}
	}
}
