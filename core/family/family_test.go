package family

import (
	"encoding/json"
	"slices"
	"testing"
)

func TestMergeDist(t *testing.T) {
	a := DistRules{Duplicated: []string{"x", "y"}, GroupedTE: map[string]string{"k": "1"}}
	b := DistRules{Duplicated: []string{"y", "z"}, Row: []string{"r"}, GroupedTE: map[string]string{"k": "2", "j": "3"}}
	m := MergeDist(a, b)
	if !slices.Equal(m.Duplicated, []string{"x", "y", "z"}) || !slices.Equal(m.Row, []string{"r"}) {
		t.Errorf("lists: %+v", m)
	}
	if m.GroupedTE["k"] != "2" || m.GroupedTE["j"] != "3" {
		t.Errorf("maps: later sets must win: %v", m.GroupedTE)
	}
	if a.GroupedTE["k"] != "1" {
		t.Error("MergeDist changed its input")
	}
}

func TestPrefixed(t *testing.T) {
	got := Prefixed("text_config.", [2]string{"hidden_size", "hidden_size"}, [2]string{"num_hidden_layers", "num_layers"})
	want := []ConfigKey{{HF: "text_config.hidden_size", MCA: "hidden_size"}, {HF: "text_config.num_hidden_layers", MCA: "num_layers"}}
	if !slices.Equal(got, want) {
		t.Errorf("Prefixed = %v, want %v", got, want)
	}
}

func TestDimsJSONAppendsFamilyDims(t *testing.T) {
	d := Dims{Hidden: 8}
	d.SetExtra("zeta", 2)
	d.SetExtra("alpha", true)
	b, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	const want = `{"hidden_size":8,"num_attention_heads":0,"num_query_groups":0,"kv_channels":0,"num_layers":0,"padded_vocab_size":0,"ffn_hidden_size":0,"moe_ffn_hidden_size":0,"num_moe_experts":0,"tie_embeddings_and_output_weights":false,"alpha":true,"zeta":2}`
	if string(b) != want {
		t.Errorf("got  %s\nwant %s", b, want)
	}
	if d.ExtraInt("zeta") != 2 || !d.ExtraBool("alpha", false) || d.ExtraBool("missing", true) != true {
		t.Error("Extra accessors")
	}
}

type fakeTB struct{ cleanups []func() }

func (f *fakeTB) Helper()           {}
func (f *fakeTB) Cleanup(fn func()) { f.cleanups = append(f.cleanups, fn) }

func TestRegistry(t *testing.T) {
	tb := &fakeTB{}
	RegisterForTest(tb, &Template{ModelType: "zz_test", Components: []ComponentRule{{Prefix: "a.", Component: "a"}, {Prefix: "a.b.", Component: "ab", Label: "A B"}}})
	tm, err := Lookup("zz_test")
	if err != nil {
		t.Fatal(err)
	}
	if got := tm.Component("a.b.c"); got != "ab" {
		t.Errorf("longest prefix wins: got %q", got)
	}
	if tm.ComponentLabel("ab") != "A B" || !slices.Equal(tm.ComponentKeys(), []string{"a", "ab", "other"}) {
		t.Errorf("labels/keys: %q %v", tm.ComponentLabel("ab"), tm.ComponentKeys())
	}
	func() {
		defer func() {
			if recover() == nil {
				t.Error("a duplicate model type was registered")
			}
		}()
		Register(&Template{ModelType: "zz_test"})
	}()
	_, err = Lookup("nope")
	if err == nil || err.Error() != `no template for model_type "nope"; omnitui has templates for: zz_test` {
		t.Errorf("Lookup error: %v", err)
	}
	for _, f := range tb.cleanups {
		f()
	}
	if _, err := Lookup("zz_test"); err == nil {
		t.Error("RegisterForTest's template outlived its test")
	}
}
