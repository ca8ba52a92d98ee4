package pt

import (
	"errors"
	"fmt"
	"math/big"
)

// Plain values: what DecodePickle and File.Root return. A pickle is rebuilt as
// nil, bool, int64, *big.Int, float64, string, Bytes and the pointer types
// below; nothing is ever imported or called. Shared or cyclic references in
// the pickle stay shared (the same pointer), so a value graph is never copied
// more than once.
type (
	// Bytes is a Python bytes or bytearray.
	Bytes []byte
	// Tuple is a Python tuple.
	Tuple struct{ Items []any }
	// List is a Python list.
	List struct{ Items []any }
	// Set is a Python set or frozenset.
	Set struct {
		Items  []any
		Frozen bool
	}
	// Dict is a dict or collections.OrderedDict in insertion order.
	Dict struct {
		Keys, Vals []any
		Ordered    bool
	}
	// Global is a reference to a module attribute ("module.name") that was
	// not called.
	Global struct{ Module, Name string }
	// Object is an instance of a class the unpickler does not rebuild: the
	// class (a *Global, or whatever value the pickle used), the arguments it
	// would have been constructed with, the state BUILD would have set, and
	// items appended or set on it.
	Object struct {
		Class any
		Args  *Tuple
		State any
		Items []any
		KVs   []any // key, value, key, value, ...
	}
	// Tensor is a tensor rebuilt by torch._utils._rebuild_tensor*.
	Tensor struct{ Ref TensorRef }
)

// String is "module.name".
func (g *Global) String() string { return g.Module + "." + g.Name }

// ClassName is the "module.name" of the object's class, or "" when the class
// is not a plain global.
func (o *Object) ClassName() string {
	if g, ok := o.Class.(*Global); ok {
		return g.String()
	}
	return ""
}

// Get returns the value under string key k.
func (d *Dict) Get(k string) (any, bool) {
	for i, key := range d.Keys {
		if s, ok := key.(string); ok && s == k {
			return d.Vals[i], true
		}
	}
	return nil, false
}

// ErrNotAllowed marks a pickle that names a global outside the caller's
// allow-list (PickleOptions.Allow).
var ErrNotAllowed = errors.New("the file names a class that is not on the allow-list")

// PickleOptions restricts DecodePickle.
type PickleOptions struct {
	// Allow, when set, is asked about every global the pickle names (after the
	// built-in refusal of code-running globals); a non-nil error refuses the
	// file. Use it to read formats whose classes are known in advance.
	Allow func(module, name string) error
	// NoPersistent refuses persistent ids (torch storages): for pickles
	// written by plain pickle.dump, which never hold them.
	NoPersistent bool
	// Name is used in errors ("data.pkl" when empty).
	Name string
}

// maxPlainDepth bounds the nesting of a decoded value; deeper pickles are
// refused instead of exhausting the stack.
const maxPlainDepth = 1000

// DecodePickle interprets a pickle with the restricted unpickler and returns
// its value as plain data (see Bytes, Tuple, ...). Memory used is bounded by a
// small multiple of len(data): every length in the pickle is checked against
// the bytes that remain before anything is allocated for it.
func DecodePickle(data []byte, opt PickleOptions) (any, error) {
	name := opt.Name
	if name == "" {
		name = "data.pkl"
	}
	u := &unpickler{data: data, memo: map[uint64]any{}, allow: opt.Allow, noPersistent: opt.NoPersistent}
	v, err := u.run()
	if err != nil {
		return nil, fmt.Errorf("%s offset %d: %w", name, u.pos, err)
	}
	out, err := toPlain(v)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return out, nil
}

// Root returns the whole unpickled data.pkl as plain data.
func (f *File) Root() (any, error) { return toPlain(f.root) }

// RootTensor returns the tensor when data.pkl holds a bare tensor, as
// torch.save(tensor) writes (one chunk of a torch.distributed.checkpoint
// .distcp file is such an archive).
func (f *File) RootTensor() (TensorRef, bool) {
	t, ok := f.root.(*pyTensor)
	if !ok {
		return TensorRef{}, false
	}
	return refOf("", t), true
}

func refOf(name string, t *pyTensor) TensorRef {
	return TensorRef{
		Name: name, DType: t.dtype, TypeName: t.typeName, Shape: t.shape, Stride: t.stride,
		StorageOffset: t.offset, Storage: t.storage.key, StorageNumel: t.storage.numel,
		storageElem: t.storage.dtype.Size(),
	}
}

type plainer struct {
	seen map[any]any
}

func toPlain(v any) (any, error) {
	p := &plainer{seen: map[any]any{}}
	return p.conv(v, 0)
}

func (p *plainer) conv(v any, depth int) (any, error) {
	if depth > maxPlainDepth {
		return nil, fmt.Errorf("values nested more than %d deep: %w", maxPlainDepth, errCorrupt)
	}
	switch o := v.(type) {
	case nil, bool, int64, *big.Int, float64, string:
		return o, nil
	case pyBytes:
		return Bytes(o), nil
	}
	if done, ok := p.seen[v]; ok {
		return done, nil
	}
	items := func(src []any) ([]any, error) {
		out := make([]any, len(src))
		for i, it := range src {
			c, err := p.conv(it, depth+1)
			if err != nil {
				return nil, err
			}
			out[i] = c
		}
		return out, nil
	}
	var err error
	switch o := v.(type) {
	case *pyTuple:
		t := &Tuple{}
		p.seen[v] = t
		t.Items, err = items(o.items)
		return t, err
	case *pyList:
		l := &List{}
		p.seen[v] = l
		l.Items, err = items(o.items)
		return l, err
	case *pySet:
		s := &Set{Frozen: o.frozen}
		p.seen[v] = s
		s.Items, err = items(o.items)
		return s, err
	case *pyDict:
		d := &Dict{Ordered: o.ordered}
		p.seen[v] = d
		if d.Keys, err = items(o.keys); err != nil {
			return nil, err
		}
		d.Vals, err = items(o.vals)
		return d, err
	case *pyGlobal:
		g := &Global{Module: o.module, Name: o.name}
		p.seen[v] = g
		return g, nil
	case *pyTensor:
		t := &Tensor{Ref: refOf("", o)}
		p.seen[v] = t
		return t, nil
	case *pyStorage:
		return nil, fmt.Errorf("a bare storage %s outside a tensor: %w", o.typeName, errCorrupt)
	case *pyObject:
		ob := &Object{}
		p.seen[v] = ob
		if ob.Class, err = p.conv(o.class, depth+1); err != nil {
			return nil, err
		}
		args, err := p.conv(o.args, depth+1)
		if err != nil {
			return nil, err
		}
		switch a := args.(type) {
		case *Tuple:
			ob.Args = a
		case nil:
			ob.Args = &Tuple{}
		default:
			ob.Args = &Tuple{Items: []any{a}}
		}
		if ob.State, err = p.conv(o.state, depth+1); err != nil {
			return nil, err
		}
		if ob.Items, err = items(o.items); err != nil {
			return nil, err
		}
		ob.KVs, err = items(o.kvs)
		return ob, err
	}
	return nil, fmt.Errorf("unexpected value %T in the pickle: %w", v, errCorrupt)
}
