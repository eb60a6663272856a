package symbolizer

import "math"

// addrIndex finds, in a sorted address array, the last entry at or below an
// address. A plain binary search over millions of entries takes ~20 cache
// misses per lookup; a sampled top level (every 64th address: a few hundred
// KB for the largest binaries, so it stays in cache) narrows the search to
// one block first.
//
// The addresses of every real binary span less than 4 GiB, so they are
// kept as uint32 offsets from the first one (the block is then 256 bytes
// and the array half the size); an array that spans more keeps uint64s.
// Exactly one of addrs32 and addrs64 is used; find answers the same either
// way.
type addrIndex struct {
	addrs32 []uint32 // addrs - tops[0], when wide is false
	addrs64 []uint64 // the addresses, when wide is true
	tops    []uint64 // addrs[0], addrs[64], addrs[128], ...
	wide    bool
}

const addrBlock = 64

// newAddrIndex indexes the addresses of sorted items: as uint32 offsets
// when they fit, without a temporary []uint64.
func newAddrIndex[T any](items []T, addr func(*T) uint64) addrIndex {
	n := len(items)
	if n > 0 && addr(&items[n-1])-addr(&items[0]) > math.MaxUint32 {
		addrs := make([]uint64, n)
		for i := range items {
			addrs[i] = addr(&items[i])
		}
		return newAddrIndex64(addrs)
	}
	x := addrIndex{addrs32: make([]uint32, n), tops: make([]uint64, 0, (n+addrBlock-1)/addrBlock)}
	if n == 0 {
		return x
	}
	base := addr(&items[0])
	for i := range items {
		a := addr(&items[i])
		if i%addrBlock == 0 {
			x.tops = append(x.tops, a)
		}
		x.addrs32[i] = uint32(a - base)
	}
	return x
}

// newAddrIndex64 indexes sorted addrs as they are (any span).
func newAddrIndex64(addrs []uint64) addrIndex {
	tops := make([]uint64, 0, (len(addrs)+addrBlock-1)/addrBlock)
	for i := 0; i < len(addrs); i += addrBlock {
		tops = append(tops, addrs[i])
	}
	return addrIndex{addrs64: addrs, tops: tops, wide: true}
}

// len is the number of addresses.
func (x *addrIndex) len() int {
	if x.wide {
		return len(x.addrs64)
	}
	return len(x.addrs32)
}

// find returns the index of the last address <= a, or -1.
func (x *addrIndex) find(a uint64) int {
	lo, hi := 0, len(x.tops)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if x.tops[m] <= a {
			lo = m + 1
		} else {
			hi = m
		}
	}
	if lo == 0 {
		return -1
	}
	block := lo - 1
	lo = block * addrBlock
	if !x.wide {
		// a >= tops[block] >= tops[0]: the offset is defined; past 4 GiB
		// it is above every entry, as math.MaxUint32 is (or equal to it).
		off := uint32(min(a-x.tops[0], math.MaxUint32))
		addrs := x.addrs32
		hi = min(lo+addrBlock, len(addrs))
		for lo < hi {
			m := int(uint(lo+hi) >> 1)
			if addrs[m] <= off {
				lo = m + 1
			} else {
				hi = m
			}
		}
		return lo - 1
	}
	addrs := x.addrs64
	hi = min(lo+addrBlock, len(addrs))
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if addrs[m] <= a {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo - 1
}

// bytes is the memory the index's arrays take.
func (x *addrIndex) bytes() int64 {
	return int64(len(x.addrs32))*4 + int64(len(x.addrs64)+len(x.tops))*8
}
