package pt

import (
	"fmt"
	"strings"
)

// Globals a pickle may name. Nothing is ever imported or called: known
// constructors are rebuilt as plain data, every other global becomes an opaque
// reference. Globals that would run code under torch.load (and so mark a
// malicious or at least untrustworthy file) are refused with ErrUnsafe.

// unsafeModules are modules whose attributes can run code, touch files,
// processes or the interpreter. A global in one of them (or a submodule) is
// refused.
var unsafeModules = []string{
	"os", "posix", "nt", "posixpath", "ntpath", "subprocess", "_posixsubprocess", "sys", "shutil", "socket",
	"pty", "runpy", "importlib", "imp", "pkgutil", "zipimport", "site", "pickle", "_pickle", "cPickle",
	"pickletools", "marshal", "shelve", "dill", "cloudpickle", "joblib", "code", "codeop", "ctypes", "_ctypes",
	"multiprocessing", "concurrent", "pdb", "bdb", "trace", "timeit", "profile", "cProfile", "webbrowser",
	"commands", "popen2", "asyncio", "signal", "_thread", "thread", "threading", "tempfile", "glob",
	"inspect", "gc", "distutils", "setuptools", "pip", "operator", "_operator", "yaml", "http", "urllib",
	"requests", "ftplib",
	"smtplib", "telnetlib", "xmlrpc", "sqlite3", "tarfile", "zipfile", "fileinput", "linecache", "logging.config",
	"torch.serialization", "torch.hub", "torch.jit", "torch._jit_internal", "torch.package", "torch.ops",
	"torch._ops", "torch.utils.cpp_extension", "torch.distributed.rpc", "torch._dynamo", "torch.compiler",
}

// safeBuiltins are the builtins that only construct plain values.
var safeBuiltins = map[string]bool{
	"set": true, "frozenset": true, "dict": true, "list": true, "tuple": true, "int": true, "float": true,
	"complex": true, "str": true, "bytes": true, "bytearray": true, "bool": true, "slice": true, "range": true,
	"object": true, "Ellipsis": true, "NotImplemented": true, "True": true, "False": true, "None": true,
}

// unsafeNames are attribute names that run code or deserialize nested data in
// whatever module they live (numpy.load, yaml.load, dill.loads, ...).
var unsafeNames = map[string]bool{
	"eval": true, "exec": true, "execfile": true, "compile": true, "system": true, "popen": true,
	"Popen": true, "spawn": true, "__import__": true, "import_module": true, "getattr": true, "setattr": true,
	"delattr": true, "load": true, "loads": true, "runstring": true, "run_path": true, "run_module": true,
	"apply": true, "open": true, "open_code": true, "FileIO": true, "_load_from_bytes": true, "check_output": true,
	"check_call": true, "getoutput": true, "getstatusoutput": true, "breakpoint": true, "input": true,
}

// findGlobal validates a GLOBAL reference. Python 2 module names that
// protocol 2 pickles carry are mapped to their Python 3 names, as the real
// unpickler does.
func findGlobal(module, name string) (*pyGlobal, error) {
	switch module {
	case "__builtin__":
		module = "builtins"
	case "copy_reg":
		module = "copyreg"
	}
	full := module + "." + name
	refuse := func(why string) (*pyGlobal, error) {
		return nil, fmt.Errorf("the pickle references %.200s, which %s when loaded; refusing to read it (%w; load it with torch.load only if you trust its source)", full, why, ErrUnsafe)
	}
	if module == "" || name == "" || strings.ContainsAny(module+name, "\x00\n") {
		return nil, fmt.Errorf("malformed global %.200q: %w", full, errCorrupt)
	}
	if full == "torch.storage._load_from_bytes" {
		return refuse("runs a second, unrestricted torch.load on embedded bytes")
	}
	if module == "builtins" {
		if safeBuiltins[name] {
			return &pyGlobal{module, name}, nil
		}
		return refuse("is a builtin that can run code")
	}
	for _, m := range unsafeModules {
		if module == m || strings.HasPrefix(module, m+".") {
			return refuse("lives in module " + m + ", which can run code")
		}
	}
	if module == "types" && name != "SimpleNamespace" {
		return refuse("can build functions or code objects")
	}
	if full == "functools.reduce" || full == "_functools.reduce" {
		return refuse("calls other functions")
	}
	if unsafeNames[name] || strings.HasPrefix(name, "spawn") || strings.HasPrefix(name, "exec") {
		return refuse("can run code or unpickle nested data")
	}
	return &pyGlobal{module, name}, nil
}

func isGlobal(v any, module, name string) bool {
	g, ok := v.(*pyGlobal)
	return ok && g.module == module && g.name == name
}

// reduce evaluates fn(*args) for the few callables we rebuild as data and
// returns an opaque placeholder for everything else.
func reduce(fn any, args []any) (any, error) {
	g, ok := fn.(*pyGlobal)
	if !ok {
		return &pyObject{class: fn, args: &pyTuple{items: args}}, nil
	}
	switch g.module + "." + g.name {
	case "collections.OrderedDict", "builtins.dict":
		d := newDict(g.name == "OrderedDict")
		if len(args) == 0 {
			return d, nil
		}
		if len(args) == 1 {
			if fillDict(d, args[0]) {
				return d, nil
			}
		}
	case "builtins.set", "builtins.frozenset":
		s := &pySet{frozen: g.name == "frozenset"}
		if len(args) == 0 {
			return s, nil
		}
		if len(args) == 1 {
			if items, ok := sequence(args[0]); ok {
				s.items = append(s.items, items...)
				return s, nil
			}
		}
	case "_codecs.encode":
		// Protocol 2 pickles bytes as _codecs.encode(str, "latin1").
		if len(args) == 2 {
			s, ok1 := args[0].(string)
			enc, ok2 := args[1].(string)
			if ok1 && ok2 {
				switch strings.ToLower(strings.ReplaceAll(enc, "_", "-")) {
				case "latin1", "latin-1", "iso-8859-1":
					out := make(pyBytes, 0, len(s))
					for _, r := range s {
						if r > 0xff {
							return nil, fmt.Errorf("_codecs.encode: %q does not fit latin-1: %w", r, errCorrupt)
						}
						out = append(out, byte(r))
					}
					return out, nil
				case "utf-8", "utf8":
					return pyBytes(s), nil
				}
			}
		}
	case "torch._utils._rebuild_tensor", "torch._utils._rebuild_tensor_v2", "torch._utils._rebuild_tensor_v3":
		return rebuildTensor(g.name, args)
	case "torch._utils._rebuild_parameter", "torch._utils._rebuild_parameter_with_state":
		if len(args) >= 1 {
			if t, ok := args[0].(*pyTensor); ok {
				return t, nil
			}
		}
		return nil, fmt.Errorf("%s without a tensor argument: %w", g, errCorrupt)
	case "torch._tensor._rebuild_from_type_v2":
		// (func, new_type, args, state): a tensor subclass (e.g. Parameter)
		// rebuilt by func(*args); we keep the plain tensor.
		if len(args) == 4 {
			if inner, ok := args[2].(*pyTuple); ok {
				v, err := reduce(args[0], inner.items)
				if err != nil {
					return nil, err
				}
				if t, ok := v.(*pyTensor); ok {
					return t, nil
				}
			}
		}
	case "copyreg._reconstructor":
		if len(args) >= 1 {
			return &pyObject{class: args[0], args: &pyTuple{items: args}}, nil
		}
	case "copyreg.__newobj__":
		if len(args) >= 1 {
			return &pyObject{class: args[0], args: &pyTuple{items: args[1:]}}, nil
		}
	}
	return &pyObject{class: g, args: &pyTuple{items: args}}, nil
}

// newObject handles NEWOBJ: cls.__new__(cls, *args).
func newObject(cls, args any) any {
	if isGlobal(cls, "collections", "OrderedDict") {
		return newDict(true)
	}
	if isGlobal(cls, "builtins", "dict") {
		return newDict(false)
	}
	return &pyObject{class: cls, args: args}
}

func sequence(v any) ([]any, bool) {
	switch s := v.(type) {
	case *pyList:
		return s.items, true
	case *pyTuple:
		return s.items, true
	case *pySet:
		return s.items, true
	}
	return nil, false
}

// fillDict fills d from a mapping or a sequence of pairs.
func fillDict(d *pyDict, src any) bool {
	if m, ok := src.(*pyDict); ok {
		for i := range m.keys {
			d.set(m.keys[i], m.vals[i])
		}
		return true
	}
	items, ok := sequence(src)
	if !ok {
		return false
	}
	for _, it := range items {
		kv, ok := sequence(it)
		if !ok || len(kv) != 2 {
			return false
		}
		d.set(kv[0], kv[1])
	}
	return true
}

// persistentLoad resolves torch's persistent ids:
// ('storage', storage_type, key, location, numel).
func persistentLoad(pid any) (any, error) {
	t, ok := pid.(*pyTuple)
	if !ok || len(t.items) == 0 {
		return nil, fmt.Errorf("persistent id is a %s, not a torch storage tuple: %w", typeName(pid), errCorrupt)
	}
	if kind, _ := t.items[0].(string); kind != "storage" || len(t.items) != 5 {
		return nil, fmt.Errorf("unsupported persistent id %.40q with %d fields (only torch storages are supported): %w", kind, len(t.items), errCorrupt)
	}
	st, ok := t.items[1].(*pyGlobal)
	if !ok {
		return nil, fmt.Errorf("storage type is a %s, not a torch storage class: %w", typeName(t.items[1]), errCorrupt)
	}
	key, ok := t.items[2].(string)
	if !ok {
		if k, isInt := t.items[2].(int64); isInt {
			key = fmt.Sprint(k)
		} else {
			return nil, fmt.Errorf("storage key is a %s, not a string: %w", typeName(t.items[2]), errCorrupt)
		}
	}
	loc, _ := t.items[3].(string)
	numel, ok := t.items[4].(int64)
	if !ok || numel < 0 {
		return nil, fmt.Errorf("storage %q has an invalid element count (%s): %w", key, typeName(t.items[4]), errCorrupt)
	}
	s := &pyStorage{typeName: st.String(), key: key, location: loc, numel: numel}
	if st.module == "torch" {
		s.dtype = storageDTypes[st.name]
	}
	return s, nil
}

// rebuildTensor evaluates torch._utils._rebuild_tensor{,_v2,_v3}:
// (storage, storage_offset, size, stride, [requires_grad, backward_hooks,
// [dtype,] metadata]).
func rebuildTensor(fn string, args []any) (any, error) {
	if len(args) < 4 {
		return nil, fmt.Errorf("%s needs at least 4 arguments, got %d: %w", fn, len(args), errCorrupt)
	}
	s, ok := args[0].(*pyStorage)
	if !ok {
		return nil, fmt.Errorf("%s: first argument is a %s, not a storage: %w", fn, typeName(args[0]), errCorrupt)
	}
	off, ok := args[1].(int64)
	if !ok || off < 0 {
		return nil, fmt.Errorf("%s: invalid storage offset: %w", fn, errCorrupt)
	}
	shape, ok := intTuple(args[2])
	if !ok {
		return nil, fmt.Errorf("%s: size is not a tuple of non-negative ints: %w", fn, errCorrupt)
	}
	stride, ok := intTuple(args[3])
	if !ok || len(stride) != len(shape) {
		return nil, fmt.Errorf("%s: stride is not a tuple of non-negative ints matching the size: %w", fn, errCorrupt)
	}
	t := &pyTensor{storage: s, dtype: s.dtype, typeName: s.typeName, offset: off, shape: shape, stride: stride}
	if fn == "_rebuild_tensor_v3" {
		if len(args) < 7 {
			return nil, fmt.Errorf("%s needs a dtype argument: %w", fn, errCorrupt)
		}
		g, ok := args[6].(*pyGlobal)
		if !ok || g.module != "torch" {
			return nil, fmt.Errorf("%s: dtype is a %s, not a torch dtype: %w", fn, typeName(args[6]), errCorrupt)
		}
		t.dtype, t.typeName = torchDTypes[g.name], g.String()
	}
	return t, nil
}

func intTuple(v any) ([]int64, bool) {
	// torch.Size(...) pickled as an object holding a tuple.
	if o, ok := v.(*pyObject); ok && isGlobal(o.class, "torch", "Size") {
		if a, ok := o.args.(*pyTuple); ok && len(a.items) == 1 {
			v = a.items[0]
		}
	}
	items, ok := sequence(v)
	if !ok {
		return nil, false
	}
	out := make([]int64, len(items))
	for i, it := range items {
		n, ok := it.(int64)
		if !ok || n < 0 {
			return nil, false
		}
		out[i] = n
	}
	return out, true
}
