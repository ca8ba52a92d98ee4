package pt

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/omnitui/omnitui/loader"
)

func TestTensorArchiveRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		dtype loader.DType
		shape []int64
	}{
		{loader.BF16, []int64{3, 5}},
		{loader.F32, []int64{1, 4, 2}},
		{loader.I64, []int64{7}},
		{loader.F16, []int64{}},
	} {
		t.Run(fmt.Sprint(tc.dtype, tc.shape), func(t *testing.T) {
			n := int64(tc.dtype.Size())
			for _, d := range tc.shape {
				n *= d
			}
			data := make([]byte, n)
			for i := range data {
				data[i] = byte(i*7 + 3)
			}
			arc, err := EncodeTensorArchive("archive", tc.dtype, tc.shape, data)
			if err != nil {
				t.Fatal(err)
			}
			// Embed the archive in a larger file, as a .distcp holds it.
			file := append(append(bytes.Repeat([]byte{0xee}, 100), arc...), 0xee)
			f, err := OpenReaderAt("x.distcp", bytes.NewReader(file[100:100+len(arc)]), int64(len(arc)))
			if err != nil {
				t.Fatal(err)
			}
			ref, ok := f.RootTensor()
			if !ok {
				t.Fatal("no root tensor")
			}
			if ref.DType != tc.dtype || fmt.Sprint(ref.Shape) != fmt.Sprint(tc.shape) {
				t.Fatalf("ref %s %v, want %s %v", ref.DType, ref.Shape, tc.dtype, tc.shape)
			}
			got, err := f.ReadTensor(ref)
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("ReadTensor = %x, %v; want %x", got, err, data)
			}
			sp, err := f.ContiguousSpan(ref)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(file[100+sp.Off:100+sp.Off+sp.Len], data) || !sp.WholeRecord {
				t.Fatalf("span %+v does not locate the data", sp)
			}
			if _, err := EncodeTensorArchive("a", tc.dtype, tc.shape, data[:len(data)/2]); len(data) > 1 && err == nil {
				t.Fatal("short data accepted")
			}
		})
	}
}

func TestContiguousSpanRefusesStridedView(t *testing.T) {
	arc, err := EncodeTensorArchive("archive", loader.F32, []int64{2, 3}, make([]byte, 24))
	if err != nil {
		t.Fatal(err)
	}
	f, err := OpenReaderAt("x", bytes.NewReader(arc), int64(len(arc)))
	if err != nil {
		t.Fatal(err)
	}
	ref, _ := f.RootTensor()
	ref.Shape, ref.Stride = []int64{3, 2}, []int64{1, 3} // the transpose
	if _, err := f.ContiguousSpan(ref); err == nil || !strings.Contains(err.Error(), "strided") {
		t.Fatalf("err = %v, want a strided-view refusal", err)
	}
	ref.Shape, ref.Stride, ref.StorageOffset = []int64{2, 3}, []int64{3, 1}, 1
	if _, err := f.ContiguousSpan(ref); err == nil {
		t.Fatal("a view past the end of its storage was accepted")
	}
}

func TestDecodePickleAllowList(t *testing.T) {
	p := newPickleWriter()
	p.global("pkg.mod", "Thing")
	p.op(opEmptyTuple)
	p.op(opNewObj)
	p.op(opEmptyDict)
	p.str("a")
	p.int(5)
	p.op(opSetItem)
	p.op(opBuild)
	p.op(opStop)
	allow := func(m, n string) error {
		if m == "pkg.mod" && n == "Thing" {
			return nil
		}
		return fmt.Errorf("%s.%s: %w", m, n, ErrNotAllowed)
	}
	v, err := DecodePickle(p.buf, PickleOptions{Allow: allow})
	if err != nil {
		t.Fatal(err)
	}
	o, ok := v.(*Object)
	if !ok || o.ClassName() != "pkg.mod.Thing" {
		t.Fatalf("got %#v", v)
	}
	st, ok := o.State.(*Dict)
	if a, _ := st.Get("a"); !ok || a != int64(5) {
		t.Fatalf("state %#v", o.State)
	}
	deny := func(m, n string) error { return fmt.Errorf("%s.%s: %w", m, n, ErrNotAllowed) }
	if _, err := DecodePickle(p.buf, PickleOptions{Allow: deny, Name: ".metadata"}); !errors.Is(err, ErrNotAllowed) || !strings.Contains(err.Error(), ".metadata") {
		t.Fatalf("err = %v, want ErrNotAllowed naming .metadata", err)
	}
	// Code-running globals are refused before the allow-list is asked.
	q := newPickleWriter()
	q.global("os", "system")
	q.op(opStop)
	if _, err := DecodePickle(q.buf, PickleOptions{Allow: func(string, string) error { return nil }}); !errors.Is(err, ErrUnsafe) {
		t.Fatalf("err = %v, want ErrUnsafe", err)
	}
}

func TestDecodePickleCycleAndPersistent(t *testing.T) {
	// l = []; l.append(l)
	p := newPickleWriter()
	p.op(opEmptyList)
	p.put()
	p.get(0)
	p.op(opAppend)
	p.op(opStop)
	v, err := DecodePickle(p.buf, PickleOptions{})
	if err != nil {
		t.Fatal(err)
	}
	l := v.(*List)
	if len(l.Items) != 1 || l.Items[0] != any(l) {
		t.Fatalf("cycle not kept: %#v", l)
	}
	arcPickle := newPickleWriter()
	arcPickle.tensor("FloatStorage", "0", []int64{2})
	arcPickle.op(opStop)
	if _, err := DecodePickle(arcPickle.buf, PickleOptions{NoPersistent: true}); err == nil || !strings.Contains(err.Error(), "persistent id") {
		t.Fatalf("err = %v, want a persistent-id refusal", err)
	}
	v, err = DecodePickle(arcPickle.buf, PickleOptions{})
	if tt, ok := v.(*Tensor); err != nil || !ok || tt.Ref.DType != loader.F32 {
		t.Fatalf("got %#v, %v", v, err)
	}
}
