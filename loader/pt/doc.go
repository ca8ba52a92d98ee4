// Package pt reads and writes PyTorch zip-format checkpoint files (.pt) as
// torch.save produces them: a zip archive holding <archive>/data.pkl (a pickle
// whose tensors refer to storages by key), one record <archive>/data/<key> per
// storage, and <archive>/version.
//
// The Writer produces rank files of the form {"model": OrderedDict(name ->
// tensor)} (or "model0", "model1", ... for virtual pipeline chunks) in a single
// streaming pass: the whole archive layout is computed up front, tensor bytes
// are written with positional writes in any order from any number of
// goroutines, and the zip headers (with CRC-32s combined from the parts) are
// filled in by Close.
//
// The reader (Open) parses the zip, including ZIP64, and unpickles data.pkl
// with a restricted unpickler that never executes anything: it rebuilds plain
// containers and tensors, keeps unknown objects as opaque placeholders, and
// refuses files whose pickle references code-executing globals such as
// os.system or builtins.eval.
package pt
