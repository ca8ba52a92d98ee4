package core

// The qkv_bias op is the qkv op over the 1-D q, k and v biases (see op_qkv.go).
func init() { registerOp(OpQKVBias, qkvOp{bias: true}) }
