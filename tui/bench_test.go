package tui_test

import (
	"path/filepath"
	"sync"
	"testing"

	tea "charm.land/bubbletea/v2"

	"github.com/omnitui/omnitui/loader"
	"github.com/omnitui/omnitui/loader/fixture"
	"github.com/omnitui/omnitui/tui"
)

var realScale struct {
	once sync.Once
	dir  string
	err  error
}

// openRealScale writes the 28,010-tensor sparse fixture once per test binary.
func openRealScale(b *testing.B) (*loader.Checkpoint, string) {
	b.Helper()
	realScale.once.Do(func() {
		dir, err := osMkdirTemp()
		if err != nil {
			realScale.err = err
			return
		}
		realScale.dir = filepath.Join(dir, "instruct")
		realScale.err = fixture.WriteRealScale(realScale.dir, "instruct")
	})
	if realScale.err != nil {
		b.Fatalf("writing the real-scale fixture: %v", realScale.err)
	}
	ck, err := loader.OpenHF(realScale.dir)
	if err != nil {
		b.Fatalf("opening the real-scale fixture: %v", err)
	}
	if len(ck.Tensors) != 28010 {
		b.Fatalf("the fixture has %d tensors, want 28010", len(ck.Tensors))
	}
	return ck, realScale.dir
}

// BenchmarkOpen is opening the real-scale checkpoint (15 shard headers) and the
// app on it: the plan, the trees and the first frame. The target is under 1 s.
func BenchmarkOpen(b *testing.B) {
	_, dir := openRealScale(b)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		ck, err := loader.OpenHF(dir)
		if err != nil {
			b.Fatal(err)
		}
		m := newAppFor(b, ck, dir)
		resize(m, 120, 40)
		_ = m.Screen()
		ck.Close()
	}
}

// BenchmarkKeypress is what a key costs the UI goroutine on the real-scale
// checkpoint (28,010 tensors): Update plus the redraw. Commands the key returns
// (a plan build, a selection notice) run as the program would run them, off
// the timer; the plan build's own cost is BenchmarkSettingsChangeToPlan.
// The target is well under 50 ms per key.
func BenchmarkKeypress(b *testing.B) {
	ck, dir := openRealScale(b)
	cases := []struct {
		name  string
		setup string
		keys  []string // cycled
	}{
		{"overview_scroll", "1", []string{"down", "up"}},
		{"config_move", "2", []string{"down", "down", "up", "up"}},
		{"weights_move", "3", []string{"down", "down", "up", "up"}},
		{"weights_expand_collapse", "3 G", []string{"enter"}},
		{"weights_page_in_full_expansion", "3 / type:experts enter", []string{"pgdown", "pgdown", "home"}},
		{"weights_filter_typing", "3 / type:down_pro", []string{"j", "backspace"}},
		{"weights_sort_toggle", "3", []string{"s"}},
		{"mapping_move", "4 down", []string{"down", "up"}},
		{"placement_tp_change", "5", []string{"right", "left"}},
		{"placement_ep_change", "5 down down down", []string{"right", "left"}},
		{"switch_views", "", []string{"1", "2", "3", "4", "5"}},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			m := newAppFor(b, ck, dir)
			resize(m, 120, 40)
			press(m, tc.setup)
			_ = m.Screen()
			msgs := make([]tea.KeyPressMsg, len(tc.keys))
			for i, k := range tc.keys {
				msgs[i] = keyMsg(k)
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				_, cmd := m.Update(msgs[i%len(msgs)])
				_ = m.Screen()
				if cmd != nil {
					b.StopTimer()
					run(m, cmd)
					_ = m.Screen()
					b.StartTimer()
				}
			}
		})
	}
}

// BenchmarkSettingsChangeToPlan is a settings key until its plan is in and
// drawn: Update, core.BuildPlan on the real-scale checkpoint, the views'
// refresh and the redraw.
func BenchmarkSettingsChangeToPlan(b *testing.B) {
	ck, dir := openRealScale(b)
	m := newAppFor(b, ck, dir)
	resize(m, 120, 40)
	press(m, "5")
	right, left := keyMsg("right"), keyMsg("left")
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		k := right
		if i%2 == 1 {
			k = left
		}
		_, cmd := m.Update(k)
		run(m, cmd)
		_ = m.Screen()
	}
}

// run executes a command and feeds back what it produces, as the program would.
func run(m *tui.Model, cmd tea.Cmd) {
	for cmd != nil {
		msg := cmd()
		if msg == nil {
			return
		}
		if batch, ok := msg.(tea.BatchMsg); ok {
			for _, c := range batch {
				run(m, c)
			}
			return
		}
		_, cmd = m.Update(msg)
	}
}
