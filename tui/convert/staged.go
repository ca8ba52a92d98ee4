package convert

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/omnitui/omnitui/core"
	"github.com/omnitui/omnitui/tui/common"
)

// staged remembers what a split conversion staged for the output directory shown
// (omnitui --batch --tasks N ... --out OUT), re-read at most every 2 s.
type staged struct {
	out   string
	at    time.Time
	lines []string
}

// stagedLines explains a split conversion staged beside the output directory: the
// plan, how many tasks are complete, which are missing or running, and what to run.
func (m *Model) stagedLines(w int) []string {
	out := strings.TrimSpace(m.out.Value())
	if out == "" {
		return nil
	}
	if abs, err := filepath.Abs(out); err == nil {
		out = abs
	}
	s := &m.staged
	if s.out == out && time.Since(s.at) < 2*time.Second {
		return s.lines
	}
	s.out, s.at, s.lines = out, time.Now(), nil
	if _, err := os.Lstat(core.StagingDir(out)); err != nil {
		return nil
	}
	st := m.ctx.Styles
	status, err := core.ReadStatus(out, false)
	if err != nil {
		var ue *core.UsageError
		if !errors.As(err, &ue) {
			s.lines = append([]string{""}, common.WrapStyled(st.Warning, fmt.Sprintf("! %s holds an unreadable split conversion: %v", core.Printable(core.StagingDir(out)), err), w, "  ")...)
		}
		return s.lines
	}
	r := status.Record
	missing := status.Missing()
	var running []string
	for _, t := range status.Tasks {
		if len(t.Running) > 0 {
			running = append(running, fmt.Sprint(t.Task))
		}
	}
	head := fmt.Sprintf("! a split conversion into this directory is staged (plan %s, %s, %s): %d of %d complete",
		r.ID, r.Kind, common.Plural(r.Tasks, "task"), r.Tasks-len(missing), r.Tasks)
	lines := []string{""}
	lines = append(lines, common.WrapStyled(st.Warning, head, w, "  ")...)
	var detail []string
	if len(missing) > 0 {
		ids := make([]string, len(missing))
		for i, t := range missing {
			ids[i] = fmt.Sprint(t)
		}
		detail = append(detail, "missing tasks "+strings.Join(ids, ","))
	}
	if len(running) > 0 {
		detail = append(detail, "running "+strings.Join(running, ","))
	}
	if len(missing) == 0 {
		detail = append(detail, "publish it with omnitui --batch --commit "+core.Printable(out))
	} else {
		detail = append(detail, "omnitui --batch --status "+core.Printable(out)+" lists the files; --abort removes the staging")
	}
	lines = append(lines, common.WrapStyled(st.Muted, "  "+strings.Join(detail, "; "), w, "    ")...)
	s.lines = lines
	return lines
}
