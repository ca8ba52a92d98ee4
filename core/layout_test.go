package core

import (
	"errors"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// st builds [pp][vp] stages from stage strings listed in chunk order (c = vp*pp + pp),
// one byte per layer, so expectations are written by hand and not by the code under test.
func st(pp int, chunks ...string) [][][]LayerType {
	vp := len(chunks) / pp
	out := make([][][]LayerType, pp)
	for r := range pp {
		out[r] = make([][]LayerType, vp)
	}
	for c, s := range chunks {
		types := []LayerType{}
		for i := range len(s) {
			types = append(types, LayerType(s[i]))
		}
		out[c%pp][c/pp] = types
	}
	return out
}

func TestParseLayoutValid(t *testing.T) {
	tests := []struct {
		name   string
		in     string
		pp     int
		vp     int
		stages [][][]LayerType
		dec    int
	}{
		{"minimal", "EL", 1, 1, st(1, "EL"), 0},
		{"single stage", "EttttL", 1, 1, st(1, "EttttL"), 4},
		{"two ranks", "Ett|ttL", 2, 1, st(2, "Ett", "ttL"), 4},
		{"symbol repeat", "Et*3|t*3L", 2, 1, st(2, "Ettt", "tttL"), 6},
		{"multi-digit count", "Et*12|L", 2, 1, st(2, "Etttttttttttt", "L"), 12},
		{"leading zero count", "Et*03|L", 2, 1, st(2, "Ettt", "L"), 3},
		{"group repeat", "Ett|(tt|)*2L", 4, 1, st(4, "Ett", "tt", "tt", "L"), 6},
		{"brief example pp 8", "Ett|(tt|)*6L", 8, 1, st(8, "Ett", "tt", "tt", "tt", "tt", "tt", "tt", "L"), 14},
		{"brief example implies vpp 2", "Ett|(tt|)*6L", 4, 2, st(4, "Ett", "tt", "tt", "tt", "tt", "tt", "tt", "L"), 14},
		{"brief example implies vpp 4", "Ett|(tt|)*6L", 2, 4, st(2, "Ett", "tt", "tt", "tt", "tt", "tt", "tt", "L"), 14},
		{"ROLL example", "E|(tt|)*30,L", 32, 1, st(32, append(append([]string{"E"}, slices.Repeat([]string{"tt"}, 30)...), "L")...), 60},
		{"group with leading bar", "Et(|tt)*2L", 3, 1, st(3, "Et", "tt", "ttL"), 5},
		{"symbol repeat inside group", "E(t*2|)*2tL", 3, 1, st(3, "Ett", "tt", "tL"), 5},
		{"nested groups", "E((t|)*2t)*2L", 5, 1, st(5, "Et", "t", "tt", "t", "tL"), 6},
		{"deeply nested", "E(((t)*2)*2)*2|L", 2, 1, st(2, "Etttttttt", "L"), 8},
		{"bar repeat gives empty stages", "Et|*3tL", 4, 1, st(4, "Et", "", "", "tL"), 2},
		{"empty first stage", "|EtL", 2, 1, st(2, "", "EtL"), 1},
		{"empty last stage", "EtL|", 2, 1, st(2, "EtL", ""), 1},
		{"empty middle stages vpp 2", "Et||t|L", 2, 2, st(2, "Et", "", "t", "L"), 2},
		{"commas are cosmetic", "E,t,t|t,t,L", 2, 1, st(2, "Ett", "ttL"), 4},
		{"comma inside a count, as Megatron", "Et*1,2|L", 2, 1, st(2, "Etttttttttttt", "L"), 12},
		{"comma before star, as Megatron", "Et,*3|L", 2, 1, st(2, "Ettt", "L"), 3},
		{"spaces and newlines", " E t*2 |\n t*2 L\t", 2, 1, st(2, "Ett", "ttL"), 4},
		{"mtp in last stage", "Ett|ttmL", 2, 1, st(2, "Ett", "ttmL"), 4},
		{"mtp standalone stage", "Ett|tt|m|L", 2, 2, st(2, "Ett", "tt", "m", "L"), 4},
		{"mtp with loss on last rank", "Ett|tt|t|mL", 2, 2, st(2, "Ett", "tt", "t", "mL"), 5},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l, err := ParseLayout(tc.in, tc.pp)
			if err != nil {
				t.Fatalf("ParseLayout(%q, %d): %v", tc.in, tc.pp, err)
			}
			if l.PP != tc.pp || l.VP != tc.vp {
				t.Errorf("PP, VP = %d, %d; want %d, %d", l.PP, l.VP, tc.pp, tc.vp)
			}
			if !equalStages(l.Stages, tc.stages) {
				t.Errorf("stages = %v; want %v", l.Stages, tc.stages)
			}
			if got := l.NumDecoders(); got != tc.dec {
				t.Errorf("NumDecoders = %d; want %d", got, tc.dec)
			}
			if l.Source != tc.in {
				t.Errorf("Source = %q; want %q", l.Source, tc.in)
			}
		})
	}
}

func equalStages(a, b [][][]LayerType) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if len(a[i]) != len(b[i]) {
			return false
		}
		for j := range a[i] {
			if !slices.Equal(a[i][j], b[i][j]) {
				return false
			}
		}
	}
	return true
}

func TestParseLayoutInvalid(t *testing.T) {
	tests := []struct {
		name string
		in   string
		pp   int
		col  int    // expected 1-based column; 0 = no position
		want string // substring of the message
	}{
		{"bad char", "Etx|L", 2, 3, `invalid character 'x'`},
		{"bad char lists symbols", "Et|tq", 2, 5, "E (embedding), t (decoder layer)"},
		{"non-ascii column counts runes", "Eé|tL", 2, 2, `invalid character 'é'`},
		{"uppercase T", "ET|L", 2, 2, `invalid character 'T'`},
		{"invalid utf-8", "Et\xff|L", 2, 3, "invalid byte 0xff"},
		{"unclosed paren", "Et|(tt|L", 3, 4, "'(' is never closed"},
		{"unclosed outer paren", "E((t|)*2L", 3, 2, "'(' is never closed"},
		{"stray close paren", "Ett)|L", 2, 4, "')' without a matching '('"},
		{"empty group", "E()*2|L", 2, 2, "empty group"},
		{"group without count", "E(tt)|L", 2, 6, "must be followed by '*N'"},
		{"star zero", "Et*0|tL", 2, 3, "repeat count 0"},
		{"group star zero", "E(t|)*0tL", 1, 6, "repeat count 0"},
		{"missing count", "Et*|L", 2, 4, "expected a repeat count after '*'"},
		{"missing count at end", "EtL*", 1, 5, "expected a repeat count after '*'"},
		{"star with nothing before", "*2Et|L", 2, 1, "nothing before it to repeat"},
		{"double repeat", "Et*2*3|L", 2, 5, "cannot be repeated again"},
		{"group double repeat", "E(tt)*2*3|L", 2, 8, "cannot be repeated again"},
		{"stray number", "E2t|L", 2, 2, "unexpected number"},
		{"huge count", "Et*999999999|L", 2, 9, "larger than"},
		{"huge expansion", "E((t*999)*999)*999|L", 2, 3, "expands to more than"},
		{"stage count mismatch", "Et|t|t|t|tL", 2, 0, "got 5 stages for --pp 2"},
		{"stage count hint", "Et|t|t|t|tL", 2, 0, "multiple of 2 stages"},
		{"too few stages", "EtL", 2, 0, "got 1 stages for --pp 2"},
		{"empty", "", 1, 0, "empty"},
		{"only commas", " , ", 1, 0, "empty"},
		{"only bars", "|", 2, 0, "no layers"},
		{"no embedding", "tt|tL", 2, 0, "no E"},
		{"E not first", "tE|tL", 2, 1, "start with E"},
		{"E after empty stage and t", "|t|Et|L", 4, 2, "start with E"},
		{"two E", "Et|EtL", 2, 4, "second E"},
		{"no loss", "Et|tt", 2, 0, "no L"},
		{"L not last", "Et|Lt", 2, 5, "end with L"},
		{"L not last across stages", "EtL|t", 2, 5, "end with L"},
		{"two L", "EtL|tL", 2, 6, "second L"},
		{"decoder after mtp", "Et|mtL", 2, 5, "after an MTP layer"},
		{"mtp not in last vp", "Et|tm||L", 2, 5, "last virtual stage"},
		{"mtp split over stages", "Et|tt|m|mL", 2, 9, "more than one stage"},
		{"bad pp", "EtL", 0, 0, "not a pipeline size"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l, err := ParseLayout(tc.in, tc.pp)
			if err == nil {
				t.Fatalf("ParseLayout(%q, %d) = %v; want error", tc.in, tc.pp, l.Stages)
			}
			var le *LayoutError
			if !errors.As(err, &le) {
				t.Fatalf("error %T is not a *LayoutError: %v", err, err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not contain %q", err, tc.want)
			}
			if got := le.Column(); got != tc.col {
				t.Errorf("column = %d; want %d (error %q)", got, tc.col, err)
			}
			if le.Layout != tc.in {
				t.Errorf("error names layout %q; want %q", le.Layout, tc.in)
			}
		})
	}
}

func TestLayoutErrorText(t *testing.T) {
	_, err := ParseLayout("Et|t|t|t|tL", 2)
	want := `pipeline layout "Et|t|t|t|tL": a layout needs one '|'-separated stage per pipeline rank per virtual round: got 5 stages for --pp 2; ` +
		`add or remove '|' to get a multiple of 2 stages, e.g. 4 (--vpp 2) or 6 (--vpp 3), or use a --pp that divides 5: 1, 5`
	if err == nil || err.Error() != want {
		t.Errorf("error = %v\nwant    %s", err, want)
	}
	_, err = ParseLayout("Et*|L", 2)
	var le *LayoutError
	if !errors.As(err, &le) {
		t.Fatalf("want *LayoutError, got %v", err)
	}
	if got, want := le.Caret(), "Et*|L\n   ^"; got != want {
		t.Errorf("Caret =\n%s\nwant\n%s", got, want)
	}
	if !strings.Contains(err.Error(), "at column 4") {
		t.Errorf("error %q does not say the column", err)
	}
}

func TestLayoutOffsets(t *testing.T) {
	// pp 2, vpp 2: chunks in order (0,0) (1,0) (0,1) (1,1) hold 2, 3, 0, 1 decoder layers.
	l, err := ParseLayout("Ett|ttt||tL", 2)
	if err != nil {
		t.Fatal(err)
	}
	type pos struct{ pp, vp, dec, off int }
	for _, w := range []pos{{0, 0, 2, 0}, {1, 0, 3, 2}, {0, 1, 0, 5}, {1, 1, 1, 5}} {
		if got := l.Decoders(w.pp, w.vp); got != w.dec {
			t.Errorf("Decoders(%d,%d) = %d; want %d", w.pp, w.vp, got, w.dec)
		}
		if got := l.Offset(w.pp, w.vp); got != w.off {
			t.Errorf("Offset(%d,%d) = %d; want %d", w.pp, w.vp, got, w.off)
		}
	}
	for _, bad := range [][2]int{{-1, 0}, {2, 0}, {0, 2}, {0, -1}} {
		if got := l.Offset(bad[0], bad[1]); got != -1 {
			t.Errorf("Offset(%d,%d) = %d; want -1 out of range", bad[0], bad[1], got)
		}
		if got := l.Decoders(bad[0], bad[1]); got != 0 {
			t.Errorf("Decoders(%d,%d) = %d; want 0 out of range", bad[0], bad[1], got)
		}
	}
	if got := l.NumDecoders(); got != 6 {
		t.Errorf("NumDecoders = %d; want 6", got)
	}
	if got := l.Count(0, 0, LayerEmbedding); got != 1 {
		t.Errorf("Count(0,0,E) = %d; want 1", got)
	}
}

func TestLayoutValidate(t *testing.T) {
	l, err := ParseLayout("Ett|ttmL", 2)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Validate(4, 1); err != nil {
		t.Errorf("Validate(4, 1): %v", err)
	}
	for _, tc := range []struct {
		layers, mtp int
		want        string
	}{
		{5, 1, "has 4 decoder layers (t) but the model has 5"},
		{4, 0, "has 1 MTP layers (m) but the model has 0"},
		{4, 2, "has 1 MTP layers (m) but the model has 2"},
	} {
		err := l.Validate(tc.layers, tc.mtp)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Validate(%d, %d) = %v; want %q", tc.layers, tc.mtp, err, tc.want)
		}
	}
}

func TestLayoutString(t *testing.T) {
	tests := []struct {
		in   string
		pp   int
		want string
	}{
		{"EttttL", 1, "Et*4L"},
		{"Ett|ttL", 2, "Ett|ttL"},
		{"Ett|(tt|)*6L", 8, "Ett(|tt)*6|L"},
		{"Ett|(tt|)*6L", 4, "Ett(|tt)*6|L"},
		{"E|(tt|)*30,L", 32, "E(|tt)*30|L"},
		{"Et|*3tL", 4, "Et(|)*2|tL"},
		{"E((t|)*2t)*2L", 5, "Et|t|tt|t|tL"},
		{" E t t t | t t t L ", 2, "Et*3|t*3L"},
		{"|EtL", 2, "|EtL"},
		{"EtL|", 2, "EtL|"},
		{"EtL||", 3, "EtL(|)*2"},
		{"E(t|)*3L", 4, "Et(|t)*2|L"},
	}
	for _, tc := range tests {
		l, err := ParseLayout(tc.in, tc.pp)
		if err != nil {
			t.Fatalf("ParseLayout(%q, %d): %v", tc.in, tc.pp, err)
		}
		if got := l.String(); got != tc.want {
			t.Errorf("String(%q) = %q; want %q", tc.in, got, tc.want)
		}
		// Megatron's own expansion of the canonical form gives the same stages.
		got, ok := megatronParse(l.String())
		if !ok || !slices.Equal(got, flatStages(l)) {
			t.Errorf("Megatron reads String() %q as %q (ok=%v); want %q", l.String(), got, ok, flatStages(l))
		}
	}
	var nilLayout *Layout
	if nilLayout.String() != "" || nilLayout.NumDecoders() != 0 {
		t.Error("nil layout is not empty")
	}
}

// flatStages lists a layout's stages in chunk order as strings.
func flatStages(l *Layout) []string {
	var out []string
	for c := range l.PP * l.VP {
		var b strings.Builder
		for _, x := range l.Stage(c%l.PP, c/l.PP) {
			b.WriteByte(byte(x))
		}
		out = append(out, b.String())
	}
	return out
}

func TestMegatronEmulationAgrees(t *testing.T) {
	// Strings Megatron accepts, read by both; and the documented deviations.
	same := []string{
		"Ett|(tt|)*6L", "E|(tt|)*30,L", "Et*1,2|L", "Et,*3|L", "E(t*2|)*2tL", "Et|*3tL",
		"(E|)*1(t|)*4L", "E(t)*02|L", "(Et)*1|(tt|)*2(L)*1",
	}
	for _, s := range same {
		want, ok := megatronParse(s)
		if !ok {
			t.Fatalf("emulation rejects %q", s)
		}
		l, err := ParseLayout(s, len(want))
		if err != nil {
			t.Fatalf("ParseLayout(%q): %v", s, err)
		}
		if got := flatStages(l); !slices.Equal(got, want) {
			t.Errorf("%q: omnitui %q, Megatron %q", s, got, want)
		}
	}
	// Megatron rejects nested groups and spaces; omnitui accepts them (and String() removes them).
	for _, s := range []string{"E((t|)*2t)*2L", "E t|t L"} {
		if _, ok := megatronParse(s); ok {
			t.Errorf("emulation accepts %q; the deviation note is wrong", s)
		}
	}
	// Megatron accepts these with a surprising meaning; omnitui rejects them.
	for _, s := range []string{"Et*0|tL", "E(tt)*2*3|L"} {
		if _, ok := megatronParse(s); !ok {
			t.Errorf("emulation rejects %q; the deviation note is wrong", s)
		}
		if _, err := ParseLayout(s, 2); err == nil {
			t.Errorf("ParseLayout(%q) succeeded; want error", s)
		}
	}
	if got, _ := megatronParse("E(tt)*2*3|L"); got[0] != "Etttttt" {
		t.Errorf("Megatron reads E(tt)*2*3 as %q; the comment in count() says six layers", got[0])
	}
}

// threeDigits bounds the inputs the fuzz target hands to the eager Megatron emulation.
var threeDigits = regexp.MustCompile(`\d\D*\d\D*\d`)

func FuzzParseLayout(f *testing.F) {
	for _, s := range []string{"Ett|(tt|)*6L", "E|(tt|)*30,L", "E((t|)*2t)*2L", "Et*3|t*3L", "Et|*3tL", "Ett|tt|m|L", "(", "E)*", "t*0", "Et*1,2|L"} {
		f.Add(s, uint8(2))
	}
	f.Fuzz(func(t *testing.T, s string, ppByte uint8) {
		pp := int(ppByte%8) + 1
		l, err := ParseLayout(s, pp)
		if err != nil {
			var le *LayoutError
			if !errors.As(err, &le) {
				t.Fatalf("error is %T, not *LayoutError: %v", err, err)
			}
			if le.Pos > len(s) || le.Column() < 0 {
				t.Fatalf("error position %d outside %q", le.Pos, s)
			}
			return
		}
		if l.PP != pp || l.VP < 1 || len(l.Stages) != pp {
			t.Fatalf("PP=%d VP=%d len=%d for pp %d", l.PP, l.VP, len(l.Stages), pp)
		}
		canon := l.String()
		l2, err := ParseLayout(canon, pp)
		if err != nil {
			t.Fatalf("String() %q of %q does not parse: %v", canon, s, err)
		}
		if !equalStages(l.Stages, l2.Stages) || l2.VP != l.VP {
			t.Fatalf("String() %q of %q parses to other stages", canon, s)
		}
		if got, ok := megatronParse(canon); !ok || !slices.Equal(got, flatStages(l)) {
			t.Fatalf("Megatron reads String() %q as %q (ok=%v); want %q", canon, got, ok, flatStages(l))
		}
		off := 0
		for c := range pp * l.VP {
			if got := l.Offset(c%pp, c/pp); got != off {
				t.Fatalf("Offset(%d,%d) = %d; want %d", c%pp, c/pp, got, off)
			}
			off += l.Decoders(c%pp, c/pp)
		}
		if off != l.NumDecoders() {
			t.Fatalf("chunks hold %d decoders, NumDecoders = %d", off, l.NumDecoders())
		}
		// Where Megatron's parser also accepts the input, both read the same stages.
		// (Bounded inputs only: the emulation expands counts eagerly.)
		if len(s) <= 64 && !threeDigits.MatchString(s) {
			if got, ok := megatronParse(s); ok && !slices.Equal(got, flatStages(l)) {
				t.Fatalf("%q: omnitui %q, Megatron %q", s, flatStages(l), got)
			}
		}
	})
}
