//go:build !unix

package loader

const oNonblock = 0
