package pt

import (
	"encoding/binary"
	"math/big"
	"strconv"
)

// Pickle opcodes (protocol 0-5) used by the writer and the reader.
const (
	opMark           = '('
	opStop           = '.'
	opPop            = '0'
	opPopMark        = '1'
	opDup            = '2'
	opFloat          = 'F'
	opInt            = 'I'
	opBinInt         = 'J'
	opBinInt1        = 'K'
	opLong           = 'L'
	opBinInt2        = 'M'
	opNone           = 'N'
	opPersID         = 'P'
	opBinPersID      = 'Q'
	opReduce         = 'R'
	opString         = 'S'
	opBinString      = 'T'
	opShortBinString = 'U'
	opUnicode        = 'V'
	opBinUnicode     = 'X'
	opAppend         = 'a'
	opBuild          = 'b'
	opGlobal         = 'c'
	opDict           = 'd'
	opEmptyDict      = '}'
	opAppends        = 'e'
	opGet            = 'g'
	opBinGet         = 'h'
	opInst           = 'i'
	opLongBinGet     = 'j'
	opList           = 'l'
	opEmptyList      = ']'
	opObj            = 'o'
	opPut            = 'p'
	opBinPut         = 'q'
	opLongBinPut     = 'r'
	opSetItem        = 's'
	opTuple          = 't'
	opEmptyTuple     = ')'
	opSetItems       = 'u'
	opBinFloat       = 'G'
	opProto          = 0x80
	opNewObj         = 0x81
	opExt1           = 0x82
	opExt2           = 0x83
	opExt4           = 0x84
	opTuple1         = 0x85
	opTuple2         = 0x86
	opTuple3         = 0x87
	opNewTrue        = 0x88
	opNewFalse       = 0x89
	opLong1          = 0x8a
	opLong4          = 0x8b
	opBinBytes       = 'B'
	opShortBinBytes  = 'C'
	opShortBinUni    = 0x8c
	opBinUnicode8    = 0x8d
	opBinBytes8      = 0x8e
	opEmptySet       = 0x8f
	opAddItems       = 0x90
	opFrozenSet      = 0x91
	opNewObjEx       = 0x92
	opStackGlobal    = 0x93
	opMemoize        = 0x94
	opFrame          = 0x95
	opByteArray8     = 0x96
	opNextBuffer     = 0x97
	opReadonlyBuffer = 0x98
)

// pickleBatch is the number of items Python's pickler puts between a MARK and
// its SETITEMS.
const pickleBatch = 1000

// pickleWriter emits protocol 2 pickles the way CPython's pickler does for the
// objects torch.save writes: strings, tuples and globals are memoized, ints use
// the smallest encoding, dictionaries are filled in batches of 1000.
type pickleWriter struct {
	buf     []byte
	memo    int            // next memo index
	globals map[string]int // "module\nname" -> memo index
	strs    map[string]int // interned strings ("storage", "cpu") -> memo index
}

func newPickleWriter() *pickleWriter {
	return &pickleWriter{buf: []byte{opProto, 2}, globals: map[string]int{}, strs: map[string]int{}}
}

func (p *pickleWriter) op(c byte) { p.buf = append(p.buf, c) }

func (p *pickleWriter) put() int {
	i := p.memo
	p.memo++
	if i < 256 {
		p.buf = append(p.buf, opBinPut, byte(i))
	} else {
		p.buf = append(p.buf, opLongBinPut)
		p.buf = binary.LittleEndian.AppendUint32(p.buf, uint32(i))
	}
	return i
}

func (p *pickleWriter) get(i int) {
	if i < 256 {
		p.buf = append(p.buf, opBinGet, byte(i))
	} else {
		p.buf = append(p.buf, opLongBinGet)
		p.buf = binary.LittleEndian.AppendUint32(p.buf, uint32(i))
	}
}

// str writes a fresh (memoized) string.
func (p *pickleWriter) str(s string) {
	p.buf = append(p.buf, opBinUnicode)
	p.buf = binary.LittleEndian.AppendUint32(p.buf, uint32(len(s)))
	p.buf = append(p.buf, s...)
	p.put()
}

// internedStr writes s, referring back to its first occurrence like CPython
// does for one string object pickled several times.
func (p *pickleWriter) internedStr(s string) {
	if i, ok := p.strs[s]; ok {
		p.get(i)
		return
	}
	p.str(s)
	p.strs[s] = p.memo - 1
}

func (p *pickleWriter) global(module, name string) {
	k := module + "\n" + name
	if i, ok := p.globals[k]; ok {
		p.get(i)
		return
	}
	p.op(opGlobal)
	p.buf = append(p.buf, k...)
	p.op('\n')
	p.globals[k] = p.put()
}

func (p *pickleWriter) int(v int64) {
	switch {
	case v >= 0 && v <= 0xff:
		p.buf = append(p.buf, opBinInt1, byte(v))
	case v >= 0 && v <= 0xffff:
		p.buf = append(p.buf, opBinInt2)
		p.buf = binary.LittleEndian.AppendUint16(p.buf, uint16(v))
	case v >= -1<<31 && v < 1<<31:
		p.buf = append(p.buf, opBinInt)
		p.buf = binary.LittleEndian.AppendUint32(p.buf, uint32(int32(v)))
	default:
		enc := encodeLong(big.NewInt(v))
		p.buf = append(p.buf, opLong1, byte(len(enc)))
		p.buf = append(p.buf, enc...)
	}
}

// encodeLong is CPython's pickle.encode_long: minimal little-endian two's
// complement.
func encodeLong(x *big.Int) []byte {
	if x.Sign() == 0 {
		return nil
	}
	n := x.BitLen()/8 + 1
	mod := new(big.Int).Lsh(big.NewInt(1), uint(8*n))
	v := new(big.Int).Set(x)
	if v.Sign() < 0 {
		v.Add(v, mod)
	}
	be := v.FillBytes(make([]byte, n))
	out := make([]byte, n)
	for i := range be {
		out[i] = be[n-1-i]
	}
	if x.Sign() < 0 && n > 1 && out[n-1] == 0xff && out[n-2]&0x80 != 0 {
		out = out[:n-1]
	}
	return out
}

// intTuple writes a tuple of ints as CPython's save_tuple does for protocol 2.
func (p *pickleWriter) intTuple(v []int64) {
	switch len(v) {
	case 0:
		p.op(opEmptyTuple)
		return
	case 1, 2, 3:
		for _, x := range v {
			p.int(x)
		}
		p.op([]byte{opTuple1, opTuple2, opTuple3}[len(v)-1])
	default:
		p.op(opMark)
		for _, x := range v {
			p.int(x)
		}
		p.op(opTuple)
	}
	p.put()
}

// emptyOrderedDict writes collections.OrderedDict() (used for a tensor's
// backward hooks).
func (p *pickleWriter) emptyOrderedDict() {
	p.global("collections", "OrderedDict")
	p.op(opEmptyTuple)
	p.op(opReduce)
	p.put()
}

// tensor writes torch._utils._rebuild_tensor_v2(persistent storage, 0, size,
// contiguous stride, False, OrderedDict()) for a tensor with its own compact
// storage.
func (p *pickleWriter) tensor(storageType, key string, shape []int64) {
	numel := int64(1)
	for _, d := range shape {
		numel *= d
	}
	p.global("torch._utils", "_rebuild_tensor_v2")
	p.op(opMark)
	// persistent id ('storage', torch.<Type>Storage, key, 'cpu', numel)
	p.op(opMark)
	p.internedStr("storage")
	p.global("torch", storageType)
	p.str(key)
	p.internedStr("cpu")
	p.int(numel)
	p.op(opTuple)
	p.put()
	p.op(opBinPersID)
	p.int(0) // storage offset
	p.intTuple(shape)
	p.intTuple(contiguousStrides(shape))
	p.op(opNewFalse) // requires_grad
	p.emptyOrderedDict()
	p.op(opTuple)
	p.put()
	p.op(opReduce)
	p.put()
}

// contiguousStrides returns row-major strides in elements (all 1 for size-0 or
// size-1 trailing dims, as torch computes them).
func contiguousStrides(shape []int64) []int64 {
	s := make([]int64, len(shape))
	acc := int64(1)
	for i := len(shape) - 1; i >= 0; i-- {
		s[i] = acc
		if shape[i] > 1 {
			acc *= shape[i]
		}
	}
	return s
}

// encodeStateDicts builds data.pkl for dicts; tensors get storage keys "0",
// "1", ... in order.
func encodeStateDicts(dicts []StateDict, storageTypes [][]string) []byte {
	p := newPickleWriter()
	p.op(opEmptyDict)
	p.put()
	key := 0
	setItems(p, len(dicts), func(i int) {
		d := dicts[i]
		p.str(d.Key)
		p.global("collections", "OrderedDict")
		p.op(opEmptyTuple)
		p.op(opReduce)
		p.put()
		setItems(p, len(d.Tensors), func(j int) {
			t := d.Tensors[j]
			p.str(t.Name)
			p.tensor(storageTypes[i][j], strconv.Itoa(key), t.Shape)
			key++
		})
	})
	p.op(opStop)
	return p.buf
}

// setItems emits n key/value pairs (written by item) in CPython's batches.
func setItems(p *pickleWriter, n int, item func(i int)) {
	for start := 0; start < n; start += pickleBatch {
		end := min(start+pickleBatch, n)
		if end-start == 1 {
			item(start)
			p.op(opSetItem)
			continue
		}
		p.op(opMark)
		for i := start; i < end; i++ {
			item(i)
		}
		p.op(opSetItems)
	}
}
