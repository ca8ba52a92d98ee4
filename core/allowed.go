package core

// AllowedSizes lists the sizes of a parallel setting ("tp", "pp", "vpp", "ep",
// "etp"), in increasing order, that the model's dimensions allow with
// the other settings s: the divisibility rules (vocab, heads, query groups, MoE
// FFN by ETP, experts by EP) and the pipeline split (layers over PP×VPP, the
// layout, and the family's stage checks, t.Hooks.CheckStages; t may be nil). It is what front ends step through;
// any other value may still be typed and is then reported by BuildPlan. For
// "vpp", 0 (unset) comes first. ETP must equal TP, so "etp" allows only TP.
func AllowedSizes(t *Template, d Dims, s Settings, setting string) []int {
	s = s.Normalized()
	tmpl := t
	var out []int
	ok := func(v int) bool {
		switch setting {
		case "tp":
			etp := v
			if s.ETP != s.TP { // an explicit ETP is kept
				etp = s.ETP
			}
			return tpDivides(d, v, etp) || s.AllowUneven
		case "etp":
			return v == s.TP
		case "ep":
			if d.Experts == 0 {
				return v == 1
			}
			return d.Experts%v == 0
		case "pp":
			t := s
			t.PP = v
			return splitOK(tmpl, d, t)
		case "vpp":
			if v == 0 {
				return true
			}
			t := s
			t.VPP = v
			return s.PP > 1 && splitOK(tmpl, d, t)
		}
		return false
	}
	// No larger size can pass: TP divides the heads, EP the experts, and every
	// pipeline chunk holds at least one layer (or the embedding or loss).
	first, limit := 1, 1
	switch setting {
	case "tp":
		limit = max(d.Heads, 1)
		if s.AllowUneven {
			limit = max(d.Heads, d.Vocab, 1)
		}
	case "etp":
		limit = s.TP
	case "ep":
		limit = max(d.Experts, 1)
	case "pp":
		limit = d.Layers + 2
	case "vpp":
		first, limit = 0, d.Layers+2
	}
	limit = min(limit, MaxParallel)
	for v := first; v <= limit; v++ {
		if ok(v) {
			out = append(out, v)
		}
	}
	return out
}

// tpDivides is the divisibility rule of BuildPlan for TP (and ETP on MoE FFNs).
func tpDivides(d Dims, tp, etp int) bool {
	if tp < 1 || etp < 1 {
		return false
	}
	if d.Vocab%tp != 0 || d.Heads%tp != 0 || (d.Groups >= tp && d.Groups%tp != 0) {
		return false
	}
	return d.Experts == 0 || d.MoEFFN%etp == 0
}

// splitOK reports whether the pipeline settings of s split d's layers, with the
// family's stage checks passing (Template.Hooks.CheckStages: no error).
func splitOK(t *Template, d Dims, s Settings) bool {
	var layout *Layout
	if s.Layout != "" {
		l, err := ParseLayout(s.Layout, s.PP)
		if err != nil {
			return false
		}
		if s.VPP > 0 && s.VPP != l.VP {
			return false
		}
		layout = l
	}
	st, err := PipelineStages(d.Layers, s.PP, s.VPP, s.AccountEmbedding, s.AccountLoss, layout)
	if err != nil {
		return false
	}
	if t != nil && t.Hooks.CheckStages != nil {
		for _, is := range t.Hooks.CheckStages(d, st, s.OptOut) {
			if is.Severity == SevError {
				return false
			}
		}
	}
	return true
}
