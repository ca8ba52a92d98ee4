package placement

import (
	"fmt"

	"github.com/omnitui/omnitui/core"
	"github.com/omnitui/omnitui/tui/common"
)

// split is the division of the conversion into tasks that the view shows (t / T):
// the same partition omnitui --batch --tasks N runs. Hidden at one task.
type split struct {
	n    int // tasks; 0 or 1 = not split
	plan *core.Plan
	for_ int
	part *core.Partition
	work *core.Workload
	err  error
}

// maxShownTasks bounds the per-task lines.
const maxShownTasks = 16

func (s *split) step(more bool) {
	n := max(s.n, 1)
	if more {
		n = min(n*2, core.MaxTasks)
	} else {
		n = max(n/2, 1)
	}
	s.n = n
}

// workload is what the conversion shown here writes: rank files of the plan (from HF,
// or a reshard of a Megatron checkpoint), or HF shards (a Megatron checkpoint kept in
// its recorded layout is converted back to Hugging Face).
func (m *Model) workload(p *core.Plan) (*core.Workload, error) {
	ctx := m.ctx
	if x := ctx.MCA; x != nil {
		if x.Resharding() {
			if x.Target.Reshard == nil || x.Target.Reshard.Plan != p {
				return nil, fmt.Errorf("the reshard plan is being built")
			}
			return core.ReshardWorkload(x.Target.Reshard), nil
		}
		if x.Reverse == nil || x.Reverse.HasErrors() {
			return nil, fmt.Errorf("the checkpoint does not map back to Hugging Face")
		}
		return core.ReverseWorkload(x.Reverse, x.Reverse.PlanHFShards(core.DefaultMaxShardSize)), nil
	}
	ck := ctx.Ck
	return core.ForwardWorkload(p, func(ti int) string {
		if sh := ck.ShardOf(ti); sh != nil {
			return sh.Name
		}
		return ""
	}), nil
}

// taskLines shows per task the files, bytes written and bytes read.
func (m *Model) taskLines(p *core.Plan, w int) []string {
	s := &m.split
	if s.n <= 1 || p == nil || p.HasErrors() {
		return nil
	}
	st := m.ctx.Styles
	if s.plan != p || s.for_ != s.n {
		s.plan, s.for_, s.part, s.err = p, s.n, nil, nil
		s.work, s.err = m.workload(p)
		if s.err == nil {
			s.part, s.err = s.work.Partition(s.n)
		}
	}
	out := []string{st.Title.Render(fmt.Sprintf("Split into %d tasks", s.n)) + st.Muted.Render("  t more · T fewer")}
	if s.err != nil {
		return append(out, common.WrapStyled(st.Error, "✗ "+s.err.Error(), w, "  ")...)
	}
	var input int64
	for _, u := range s.work.Units {
		input += u.Bytes
	}
	out = append(out, st.Muted.Render(fmt.Sprintf("  %-5s %6s %11s %11s", "task", "files", "written", "read")))
	for i, t := range s.part.Tasks {
		if i == maxShownTasks {
			out = append(out, st.Muted.Render(fmt.Sprintf("  … %d more tasks", len(s.part.Tasks)-i)))
			break
		}
		line := fmt.Sprintf("  %-5d %6d %11s %11s", i, len(t.Files), common.Bytes(t.Written), common.Bytes(t.Read))
		if len(t.Files) == 0 {
			line = st.Muted.Render(line + "  (no files)")
		}
		out = append(out, line)
	}
	out = append(out, common.WrapStyled(st.Muted, fmt.Sprintf("all tasks read %s (%.2f× the input); run them with omnitui --batch --tasks %d (flags as here) --out OUT CKPT: --task I, a Slurm array or a Kubernetes Indexed Job (--emit slurm|k8s), then --commit OUT",
		common.Bytes(s.part.TotalRead()), float64(s.part.TotalRead())/float64(max(input, 1)), s.n), w, "  ")...)
	return out
}
