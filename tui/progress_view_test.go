package tui_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/omnitui/omnitui/core"
	"github.com/omnitui/omnitui/loader"
	"github.com/omnitui/omnitui/tui"
	"github.com/omnitui/omnitui/tui/common"
)

// halfway reports every rank file half written, then waits until released.
type halfway struct{ release chan struct{} }

func (h halfway) convert(ctx context.Context, _ *loader.Checkpoint, p *core.Plan, opt core.ConvertOptions) (*core.Result, error) {
	var total int64
	ranks := make([]int64, len(p.Ranks))
	for i, r := range p.Ranks {
		total += r.Bytes
		ranks[i] = r.Bytes / 2
	}
	opt.Progress(core.Progress{Kind: core.ProgStart, BytesTotal: total, TensorsTotal: len(p.Groups), RankBytes: make([]int64, len(p.Ranks))})
	opt.Progress(core.Progress{Kind: core.ProgTensor, BytesDone: total / 2, BytesTotal: total, TensorsDone: 1,
		TensorsTotal: len(p.Groups), Tensor: "thinker.model.embed_tokens.weight", RankBytes: ranks})
	select {
	case <-h.release:
	case <-ctx.Done():
	}
	return nil, context.Canceled
}

// The running screen draws the overall and per-rank-file bars (bubbles/progress)
// at the reported fractions, in exactly the terminal's width.
func TestConvertRunningBars(t *testing.T) {
	for _, size := range []struct{ w, h int }{{100, 30}, {80, 24}} {
		h := halfway{release: make(chan struct{})}
		t.Cleanup(func() { close(h.release) })
		m := newApp(t, tui.WithConverter(h.convert))
		tm := newProgram(t, m, size.w, size.h)
		for _, k := range script("5 right " + convertTo(filepath.Join(t.TempDir(), "mca"))) {
			tm.Send(k)
		}
		waitScreen(t, tm, func(s string) bool {
			return strings.Contains(s, "Converting") && strings.Contains(s, "embed_tokens")
		})
		fm := finalModel(t, tm)
		v := fm.Screen()
		checkFrame(t, v, size.w, size.h)
		bars := 0
		for _, l := range strings.Split(v, "\n") {
			if !strings.Contains(l, "░") {
				continue
			}
			bars++
			full, empty := strings.Count(l, "█"), strings.Count(l, "░")
			if !strings.Contains(l, " 50%") || full == 0 || full < empty-1 || full > empty+1 {
				t.Errorf("%dx%d: a bar at 50%% should be half full: %q", size.w, size.h, l)
			}
			if strings.HasPrefix(l, "overall") && common.Width(l) != size.w {
				t.Errorf("%dx%d: the overall bar line is %d wide, want the full %d: %q", size.w, size.h, common.Width(l), size.w, l)
			}
		}
		if bars != 3 { // overall and the two rank files of TP 2
			t.Errorf("%dx%d: %d bars, want 3:\n%s", size.w, size.h, bars, v)
		}
	}
}
