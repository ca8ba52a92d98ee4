package pt

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/omnitui/omnitui/loader"
)

// ErrUnsafe marks a pickle that references globals which would run code
// (os.system, builtins.eval, subprocess, ...) when loaded by torch.load.
var ErrUnsafe = errors.New("the file holds code we refuse to run")

var (
	errCorrupt   = errors.New("the file is corrupt")
	errTruncated = errors.New("the file is truncated or corrupt")
)

// Values produced by the restricted unpickler. Python None is nil; bool,
// int64, *big.Int, float64 and string stand for themselves.
type (
	pyBytes []byte
	pyTuple struct{ items []any }
	pyList  struct{ items []any }
	pySet   struct {
		items  []any
		frozen bool
	}
	pyDict struct {
		keys, vals []any
		index      map[any]int // scalar keys -> position
		ordered    bool        // collections.OrderedDict
	}
	// pyGlobal is a reference to a module attribute (class or function).
	// Nothing is ever looked up or called.
	pyGlobal struct{ module, name string }
	// pyObject is an opaque placeholder for an object of a class we do not
	// rebuild: what was passed to construct it and what BUILD set.
	pyObject struct {
		class any
		args  any
		state any
		items []any // appended items
		kvs   []any // set items, key, value, key, value...
	}
	pyStorage struct {
		typeName string       // e.g. "torch.FloatStorage"
		dtype    loader.DType // element type of the storage, "" if unknown
		key      string
		location string
		numel    int64 // in elements of dtype
	}
	pyTensor struct {
		storage  *pyStorage
		dtype    loader.DType // "" if unknown
		typeName string
		offset   int64
		shape    []int64
		stride   []int64
	}
)

func (g *pyGlobal) String() string { return g.module + "." + g.name }

func newDict(ordered bool) *pyDict { return &pyDict{index: map[any]int{}, ordered: ordered} }

// hashKey returns a comparable map key for scalar Python values.
func hashKey(k any) (any, bool) {
	switch v := k.(type) {
	case nil, bool, int64, float64, string:
		return v, true
	case *big.Int:
		return "\x00bigint:" + v.String(), true
	case pyBytes:
		return "\x00bytes:" + string(v), true
	}
	return nil, false
}

func (d *pyDict) set(k, v any) {
	if h, ok := hashKey(k); ok {
		if i, dup := d.index[h]; dup {
			d.vals[i] = v
			return
		}
		d.index[h] = len(d.keys)
	}
	d.keys = append(d.keys, k)
	d.vals = append(d.vals, v)
}

func (d *pyDict) get(k string) (any, bool) {
	i, ok := d.index[k]
	if !ok {
		return nil, false
	}
	return d.vals[i], true
}

// Limits that keep hostile pickles from costing more than their size.
const (
	maxTextNumber = 4096    // digits in a protocol-0 INT/LONG/FLOAT line
	maxLongBytes  = 1 << 16 // bytes in a LONG4
)

// unpickler is a restricted pickle VM. It builds plain data, tensors and
// opaque placeholders, never imports or calls anything, and fails on globals
// that would execute code under a real unpickler.
type unpickler struct {
	data  []byte
	pos   int
	stack []any
	marks []int
	memo  map[uint64]any
	// allow, when set, must accept every global (PickleOptions.Allow).
	allow func(module, name string) error
	// noPersistent refuses persistent ids (PickleOptions.NoPersistent).
	noPersistent bool
	// globals caches accepted globals: pickles without memoization name the
	// same class thousands of times.
	globals map[[2]string]*pyGlobal
}

// global validates a global reference against the built-in refusals and the
// caller's allow-list.
func (u *unpickler) global(module, name string) (*pyGlobal, error) {
	key := [2]string{module, name}
	if g, ok := u.globals[key]; ok {
		return g, nil
	}
	g, err := findGlobal(module, name)
	if err != nil {
		return nil, err
	}
	if u.allow != nil {
		if err := u.allow(g.module, g.name); err != nil {
			return nil, err
		}
	}
	if u.globals == nil {
		u.globals = map[[2]string]*pyGlobal{}
	}
	u.globals[key] = g
	return g, nil
}

func unpickle(data []byte) (any, error) {
	u := &unpickler{data: data, memo: map[uint64]any{}}
	v, err := u.run()
	if err != nil {
		return nil, fmt.Errorf("data.pkl offset %d: %w", u.pos, err)
	}
	return v, nil
}

func (u *unpickler) need(n int) ([]byte, error) {
	if n < 0 || n > len(u.data)-u.pos {
		return nil, fmt.Errorf("pickle ends in the middle of an opcode: %w", errTruncated)
	}
	b := u.data[u.pos : u.pos+n]
	u.pos += n
	return b, nil
}

func (u *unpickler) needU(n uint64) ([]byte, error) {
	if n > uint64(len(u.data)-u.pos) {
		return nil, fmt.Errorf("pickle ends in the middle of an opcode: %w", errTruncated)
	}
	return u.need(int(n))
}

func (u *unpickler) line() (string, error) {
	i := bytes.IndexByte(u.data[u.pos:], '\n')
	if i < 0 {
		return "", fmt.Errorf("pickle ends in the middle of a text opcode: %w", errTruncated)
	}
	s := string(u.data[u.pos : u.pos+i])
	u.pos += i + 1
	return s, nil
}

func (u *unpickler) push(v any) { u.stack = append(u.stack, v) }

func (u *unpickler) pop() (any, error) {
	if len(u.stack) == 0 || (len(u.marks) > 0 && len(u.stack) <= u.marks[len(u.marks)-1]) {
		return nil, fmt.Errorf("pickle stack underflow: %w", errCorrupt)
	}
	v := u.stack[len(u.stack)-1]
	u.stack = u.stack[:len(u.stack)-1]
	return v, nil
}

func (u *unpickler) top() (any, error) {
	if len(u.stack) == 0 || (len(u.marks) > 0 && len(u.stack) <= u.marks[len(u.marks)-1]) {
		return nil, fmt.Errorf("pickle stack underflow: %w", errCorrupt)
	}
	return u.stack[len(u.stack)-1], nil
}

func (u *unpickler) popMark() ([]any, error) {
	if len(u.marks) == 0 {
		return nil, fmt.Errorf("pickle has no MARK to pop: %w", errCorrupt)
	}
	m := u.marks[len(u.marks)-1]
	u.marks = u.marks[:len(u.marks)-1]
	items := append([]any(nil), u.stack[m:]...)
	u.stack = u.stack[:m]
	return items, nil
}

func (u *unpickler) memoGet(i uint64) error {
	v, ok := u.memo[i]
	if !ok {
		return fmt.Errorf("pickle refers to memo entry %d that was never stored: %w", i, errCorrupt)
	}
	u.push(v)
	return nil
}

func (u *unpickler) memoPut(i uint64) error {
	v, err := u.top()
	if err != nil {
		return err
	}
	u.memo[i] = v
	return nil
}

func (u *unpickler) run() (any, error) {
	for {
		b, err := u.need(1)
		if err != nil {
			return nil, err
		}
		op := b[0]
		switch op {
		case opProto:
			v, err := u.need(1)
			if err != nil {
				return nil, err
			}
			if v[0] > 5 {
				return nil, fmt.Errorf("unsupported pickle protocol %d: %w", v[0], errCorrupt)
			}
		case opFrame:
			if _, err := u.need(8); err != nil {
				return nil, err
			}
		case opStop:
			return u.pop()
		case opMark:
			u.marks = append(u.marks, len(u.stack))
		case opPop:
			if len(u.stack) == 0 || (len(u.marks) > 0 && len(u.stack) == u.marks[len(u.marks)-1]) {
				if _, err := u.popMark(); err != nil {
					return nil, err
				}
			} else {
				u.stack = u.stack[:len(u.stack)-1]
			}
		case opPopMark:
			if _, err := u.popMark(); err != nil {
				return nil, err
			}
		case opDup:
			v, err := u.top()
			if err != nil {
				return nil, err
			}
			u.push(v)
		case opNone:
			u.push(nil)
		case opNewTrue:
			u.push(true)
		case opNewFalse:
			u.push(false)
		case opInt:
			s, err := u.line()
			if err != nil {
				return nil, err
			}
			switch s {
			case "00":
				u.push(false)
			case "01":
				u.push(true)
			default:
				v, err := parseTextInt(s)
				if err != nil {
					return nil, err
				}
				u.push(v)
			}
		case opLong:
			s, err := u.line()
			if err != nil {
				return nil, err
			}
			v, err := parseTextInt(strings.TrimSuffix(s, "L"))
			if err != nil {
				return nil, err
			}
			u.push(v)
		case opBinInt:
			v, err := u.need(4)
			if err != nil {
				return nil, err
			}
			u.push(int64(int32(binary.LittleEndian.Uint32(v))))
		case opBinInt1:
			v, err := u.need(1)
			if err != nil {
				return nil, err
			}
			u.push(int64(v[0]))
		case opBinInt2:
			v, err := u.need(2)
			if err != nil {
				return nil, err
			}
			u.push(int64(binary.LittleEndian.Uint16(v)))
		case opLong1, opLong4:
			var n uint64
			if op == opLong1 {
				v, err := u.need(1)
				if err != nil {
					return nil, err
				}
				n = uint64(v[0])
			} else {
				v, err := u.need(4)
				if err != nil {
					return nil, err
				}
				l := int32(binary.LittleEndian.Uint32(v))
				if l < 0 || l > maxLongBytes {
					return nil, fmt.Errorf("LONG4 of %d bytes is out of range: %w", l, errCorrupt)
				}
				n = uint64(l)
			}
			v, err := u.needU(n)
			if err != nil {
				return nil, err
			}
			u.push(decodeLong(v))
		case opFloat:
			s, err := u.line()
			if err != nil {
				return nil, err
			}
			if len(s) > maxTextNumber {
				return nil, fmt.Errorf("FLOAT literal is too long: %w", errCorrupt)
			}
			f, err := strconv.ParseFloat(s, 64)
			if err != nil {
				return nil, fmt.Errorf("bad FLOAT literal %.40q: %w", s, errCorrupt)
			}
			u.push(f)
		case opBinFloat:
			v, err := u.need(8)
			if err != nil {
				return nil, err
			}
			u.push(math.Float64frombits(binary.BigEndian.Uint64(v)))
		case opString:
			s, err := u.line()
			if err != nil {
				return nil, err
			}
			v, err := unquotePy2String(s)
			if err != nil {
				return nil, err
			}
			u.push(v)
		case opBinString, opBinBytes:
			v, err := u.need(4)
			if err != nil {
				return nil, err
			}
			n := binary.LittleEndian.Uint32(v)
			if op == opBinString && int32(n) < 0 {
				return nil, fmt.Errorf("negative BINSTRING length: %w", errCorrupt)
			}
			s, err := u.needU(uint64(n))
			if err != nil {
				return nil, err
			}
			if op == opBinString {
				u.push(latin1(s))
			} else {
				u.push(pyBytes(bytes.Clone(s)))
			}
		case opShortBinString, opShortBinBytes, opShortBinUni:
			v, err := u.need(1)
			if err != nil {
				return nil, err
			}
			s, err := u.need(int(v[0]))
			if err != nil {
				return nil, err
			}
			switch op {
			case opShortBinString:
				u.push(latin1(s))
			case opShortBinBytes:
				u.push(pyBytes(bytes.Clone(s)))
			default:
				u.push(string(s))
			}
		case opBinUnicode:
			v, err := u.need(4)
			if err != nil {
				return nil, err
			}
			s, err := u.needU(uint64(binary.LittleEndian.Uint32(v)))
			if err != nil {
				return nil, err
			}
			u.push(string(s))
		case opBinUnicode8, opBinBytes8, opByteArray8:
			v, err := u.need(8)
			if err != nil {
				return nil, err
			}
			s, err := u.needU(binary.LittleEndian.Uint64(v))
			if err != nil {
				return nil, err
			}
			if op == opBinUnicode8 {
				u.push(string(s))
			} else {
				u.push(pyBytes(bytes.Clone(s)))
			}
		case opUnicode:
			s, err := u.line()
			if err != nil {
				return nil, err
			}
			v, err := rawUnicodeEscape(s)
			if err != nil {
				return nil, err
			}
			u.push(v)
		case opEmptyTuple:
			u.push(&pyTuple{})
		case opTuple:
			items, err := u.popMark()
			if err != nil {
				return nil, err
			}
			u.push(&pyTuple{items: items})
		case opTuple1, opTuple2, opTuple3:
			n := int(op-opTuple1) + 1
			items := make([]any, n)
			for i := n - 1; i >= 0; i-- {
				if items[i], err = u.pop(); err != nil {
					return nil, err
				}
			}
			u.push(&pyTuple{items: items})
		case opEmptyList:
			u.push(&pyList{})
		case opList:
			items, err := u.popMark()
			if err != nil {
				return nil, err
			}
			u.push(&pyList{items: items})
		case opAppend:
			v, err := u.pop()
			if err != nil {
				return nil, err
			}
			if err := u.appendTo([]any{v}); err != nil {
				return nil, err
			}
		case opAppends:
			items, err := u.popMark()
			if err != nil {
				return nil, err
			}
			if err := u.appendTo(items); err != nil {
				return nil, err
			}
		case opEmptyDict:
			u.push(newDict(false))
		case opDict:
			items, err := u.popMark()
			if err != nil {
				return nil, err
			}
			if len(items)%2 != 0 {
				return nil, fmt.Errorf("DICT with an odd number of items: %w", errCorrupt)
			}
			d := newDict(false)
			for i := 0; i < len(items); i += 2 {
				d.set(items[i], items[i+1])
			}
			u.push(d)
		case opSetItem:
			v, err := u.pop()
			if err != nil {
				return nil, err
			}
			k, err := u.pop()
			if err != nil {
				return nil, err
			}
			if err := u.setItems([]any{k, v}); err != nil {
				return nil, err
			}
		case opSetItems:
			items, err := u.popMark()
			if err != nil {
				return nil, err
			}
			if len(items)%2 != 0 {
				return nil, fmt.Errorf("SETITEMS with an odd number of items: %w", errCorrupt)
			}
			if err := u.setItems(items); err != nil {
				return nil, err
			}
		case opEmptySet:
			u.push(&pySet{})
		case opAddItems:
			items, err := u.popMark()
			if err != nil {
				return nil, err
			}
			t, err := u.top()
			if err != nil {
				return nil, err
			}
			s, ok := t.(*pySet)
			if !ok || s.frozen {
				return nil, fmt.Errorf("ADDITEMS on a %s: %w", typeName(t), errCorrupt)
			}
			s.items = append(s.items, items...)
		case opFrozenSet:
			items, err := u.popMark()
			if err != nil {
				return nil, err
			}
			u.push(&pySet{items: items, frozen: true})
		case opGlobal:
			module, err := u.line()
			if err != nil {
				return nil, err
			}
			name, err := u.line()
			if err != nil {
				return nil, err
			}
			g, err := u.global(module, name)
			if err != nil {
				return nil, err
			}
			u.push(g)
		case opStackGlobal:
			name, err := u.pop()
			if err != nil {
				return nil, err
			}
			module, err := u.pop()
			if err != nil {
				return nil, err
			}
			ms, ok1 := module.(string)
			ns, ok2 := name.(string)
			if !ok1 || !ok2 {
				return nil, fmt.Errorf("STACK_GLOBAL needs two strings: %w", errCorrupt)
			}
			g, err := u.global(ms, ns)
			if err != nil {
				return nil, err
			}
			u.push(g)
		case opReduce:
			args, err := u.pop()
			if err != nil {
				return nil, err
			}
			fn, err := u.pop()
			if err != nil {
				return nil, err
			}
			t, ok := args.(*pyTuple)
			if !ok {
				return nil, fmt.Errorf("REDUCE arguments are a %s, not a tuple: %w", typeName(args), errCorrupt)
			}
			v, err := reduce(fn, t.items)
			if err != nil {
				return nil, err
			}
			u.push(v)
		case opNewObj:
			args, err := u.pop()
			if err != nil {
				return nil, err
			}
			cls, err := u.pop()
			if err != nil {
				return nil, err
			}
			u.push(newObject(cls, args))
		case opNewObjEx:
			kwargs, err := u.pop()
			if err != nil {
				return nil, err
			}
			args, err := u.pop()
			if err != nil {
				return nil, err
			}
			cls, err := u.pop()
			if err != nil {
				return nil, err
			}
			u.push(newObject(cls, &pyTuple{items: []any{args, kwargs}}))
		case opInst:
			module, err := u.line()
			if err != nil {
				return nil, err
			}
			name, err := u.line()
			if err != nil {
				return nil, err
			}
			g, err := u.global(module, name)
			if err != nil {
				return nil, err
			}
			items, err := u.popMark()
			if err != nil {
				return nil, err
			}
			u.push(&pyObject{class: g, args: &pyTuple{items: items}})
		case opObj:
			items, err := u.popMark()
			if err != nil {
				return nil, err
			}
			if len(items) == 0 {
				return nil, fmt.Errorf("OBJ without a class: %w", errCorrupt)
			}
			u.push(&pyObject{class: items[0], args: &pyTuple{items: items[1:]}})
		case opBuild:
			state, err := u.pop()
			if err != nil {
				return nil, err
			}
			t, err := u.top()
			if err != nil {
				return nil, err
			}
			switch o := t.(type) {
			case *pyObject:
				o.state = state
			case *pyDict, *pyTensor, *pyList, *pySet:
				// Attributes on containers and tensors (e.g. a state dict's
				// _metadata) carry nothing we read.
			default:
				return nil, fmt.Errorf("BUILD on a %s: %w", typeName(t), errCorrupt)
			}
		case opPersID:
			if u.noPersistent {
				return nil, fmt.Errorf("persistent id (a torch storage) in a pickle that cannot hold one: %w", errCorrupt)
			}
			s, err := u.line()
			if err != nil {
				return nil, err
			}
			v, err := persistentLoad(s)
			if err != nil {
				return nil, err
			}
			u.push(v)
		case opBinPersID:
			if u.noPersistent {
				return nil, fmt.Errorf("persistent id (a torch storage) in a pickle that cannot hold one: %w", errCorrupt)
			}
			pid, err := u.pop()
			if err != nil {
				return nil, err
			}
			v, err := persistentLoad(pid)
			if err != nil {
				return nil, err
			}
			u.push(v)
		case opPut, opGet:
			s, err := u.line()
			if err != nil {
				return nil, err
			}
			i, err := strconv.ParseUint(s, 10, 64)
			if err != nil {
				return nil, fmt.Errorf("bad memo index %.20q: %w", s, errCorrupt)
			}
			if op == opPut {
				err = u.memoPut(i)
			} else {
				err = u.memoGet(i)
			}
			if err != nil {
				return nil, err
			}
		case opBinPut, opBinGet:
			v, err := u.need(1)
			if err != nil {
				return nil, err
			}
			if op == opBinPut {
				err = u.memoPut(uint64(v[0]))
			} else {
				err = u.memoGet(uint64(v[0]))
			}
			if err != nil {
				return nil, err
			}
		case opLongBinPut, opLongBinGet:
			v, err := u.need(4)
			if err != nil {
				return nil, err
			}
			i := uint64(binary.LittleEndian.Uint32(v))
			if op == opLongBinPut {
				err = u.memoPut(i)
			} else {
				err = u.memoGet(i)
			}
			if err != nil {
				return nil, err
			}
		case opMemoize:
			if err := u.memoPut(uint64(len(u.memo))); err != nil {
				return nil, err
			}
		case opExt1, opExt2, opExt4:
			return nil, fmt.Errorf("pickle uses the copyreg extension registry (opcode 0x%02x), which .pt files never do: %w", op, errCorrupt)
		case opNextBuffer, opReadonlyBuffer:
			return nil, fmt.Errorf("pickle uses out-of-band buffers (opcode 0x%02x), which .pt files never do: %w", op, errCorrupt)
		default:
			return nil, fmt.Errorf("unknown pickle opcode 0x%02x: %w", op, errCorrupt)
		}
	}
}

func (u *unpickler) appendTo(items []any) error {
	t, err := u.top()
	if err != nil {
		return err
	}
	switch o := t.(type) {
	case *pyList:
		o.items = append(o.items, items...)
	case *pyObject:
		o.items = append(o.items, items...)
	default:
		return fmt.Errorf("APPEND to a %s: %w", typeName(t), errCorrupt)
	}
	return nil
}

func (u *unpickler) setItems(kv []any) error {
	t, err := u.top()
	if err != nil {
		return err
	}
	switch o := t.(type) {
	case *pyDict:
		for i := 0; i < len(kv); i += 2 {
			o.set(kv[i], kv[i+1])
		}
	case *pyObject:
		o.kvs = append(o.kvs, kv...)
	default:
		return fmt.Errorf("SETITEM on a %s: %w", typeName(t), errCorrupt)
	}
	return nil
}

func typeName(v any) string {
	switch o := v.(type) {
	case nil:
		return "None"
	case bool:
		return "bool"
	case int64, *big.Int:
		return "int"
	case float64:
		return "float"
	case string:
		return "str"
	case pyBytes:
		return "bytes"
	case *pyTuple:
		return "tuple"
	case *pyList:
		return "list"
	case *pySet:
		if o.frozen {
			return "frozenset"
		}
		return "set"
	case *pyDict:
		if o.ordered {
			return "OrderedDict"
		}
		return "dict"
	case *pyGlobal:
		return o.String()
	case *pyObject:
		if g, ok := o.class.(*pyGlobal); ok {
			return g.String() + " object"
		}
		return "object"
	case *pyStorage:
		return o.typeName
	case *pyTensor:
		return "tensor"
	}
	return fmt.Sprintf("%T", v)
}

func decodeLong(b []byte) any {
	if len(b) == 0 {
		return int64(0)
	}
	be := make([]byte, len(b))
	for i := range b {
		be[i] = b[len(b)-1-i]
	}
	v := new(big.Int).SetBytes(be)
	if b[len(b)-1]&0x80 != 0 {
		v.Sub(v, new(big.Int).Lsh(big.NewInt(1), uint(8*len(b))))
	}
	if v.IsInt64() {
		return v.Int64()
	}
	return v
}

func parseTextInt(s string) (any, error) {
	if len(s) > maxTextNumber {
		return nil, fmt.Errorf("integer literal is too long: %w", errCorrupt)
	}
	if v, err := strconv.ParseInt(s, 10, 64); err == nil {
		return v, nil
	}
	v, ok := new(big.Int).SetString(s, 10)
	if !ok {
		return nil, fmt.Errorf("bad integer literal %.40q: %w", s, errCorrupt)
	}
	return v, nil
}

func latin1(b []byte) string {
	var sb strings.Builder
	for _, c := range b {
		sb.WriteRune(rune(c))
	}
	return sb.String()
}

// unquotePy2String decodes a protocol-0 STRING argument: a quoted Python 2
// string literal with backslash escapes.
func unquotePy2String(s string) (string, error) {
	if len(s) < 2 || (s[0] != '\'' && s[0] != '"') || s[len(s)-1] != s[0] {
		return "", fmt.Errorf("STRING argument is not quoted: %w", errCorrupt)
	}
	s = s[1 : len(s)-1]
	var out []byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' {
			out = append(out, c)
			continue
		}
		i++
		if i >= len(s) {
			return "", fmt.Errorf("STRING ends in a backslash: %w", errCorrupt)
		}
		switch c = s[i]; c {
		case 'n':
			out = append(out, '\n')
		case 't':
			out = append(out, '\t')
		case 'r':
			out = append(out, '\r')
		case '\\', '\'', '"':
			out = append(out, c)
		case 'x':
			if i+2 >= len(s) {
				return "", fmt.Errorf("bad \\x escape in STRING: %w", errCorrupt)
			}
			v, err := strconv.ParseUint(s[i+1:i+3], 16, 8)
			if err != nil {
				return "", fmt.Errorf("bad \\x escape in STRING: %w", errCorrupt)
			}
			out = append(out, byte(v))
			i += 2
		default:
			if c >= '0' && c <= '7' {
				j := i
				for j < len(s) && j < i+3 && s[j] >= '0' && s[j] <= '7' {
					j++
				}
				v, _ := strconv.ParseUint(s[i:j], 8, 16)
				out = append(out, byte(v))
				i = j - 1
				continue
			}
			out = append(out, '\\', c)
		}
	}
	return latin1(out), nil
}

// rawUnicodeEscape decodes a protocol-0 UNICODE argument.
func rawUnicodeEscape(s string) (string, error) {
	var sb strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '\\' && i+1 < len(s) && (s[i+1] == 'u' || s[i+1] == 'U') {
			n := 4
			if s[i+1] == 'U' {
				n = 8
			}
			if i+2+n > len(s) {
				return "", fmt.Errorf("bad \\u escape in UNICODE: %w", errCorrupt)
			}
			v, err := strconv.ParseUint(s[i+2:i+2+n], 16, 32)
			if err != nil || v > utf8.MaxRune {
				return "", fmt.Errorf("bad \\u escape in UNICODE: %w", errCorrupt)
			}
			sb.WriteRune(rune(v))
			i += 1 + n
			continue
		}
		sb.WriteRune(rune(c))
	}
	return sb.String(), nil
}
