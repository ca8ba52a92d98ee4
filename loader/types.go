package loader

// TensorInfo describes one tensor of a checkpoint as read from a safetensors header.
// No tensor data is read to build it.
type TensorInfo struct {
	Name   string
	DType  DType
	Shape  []int64
	Shard  int   // index into Checkpoint.Shards
	Offset int64 // absolute offset of the first data byte inside the shard file
	Size   int64 // bytes of data (= NumEl * DType.Size())
}

// NumEl is the number of elements (1 for a scalar, shape []).
func (t *TensorInfo) NumEl() int64 {
	n := int64(1)
	for _, d := range t.Shape {
		n *= d
	}
	return n
}
