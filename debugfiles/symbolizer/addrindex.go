package symbolizer

// addrIndex finds, in a sorted address array, the last entry at or below an
// address. A plain binary search over millions of entries takes ~20 cache
// misses per lookup; a sampled top level (every 64th address: a few hundred
// KB for the largest binaries, so it stays in cache) narrows the search to
// one 512-byte block first.
type addrIndex struct {
	addrs []uint64
	tops  []uint64 // addrs[0], addrs[64], addrs[128], ...
}

const addrBlock = 64

func newAddrIndex(addrs []uint64) addrIndex {
	tops := make([]uint64, 0, len(addrs)/addrBlock+1)
	for i := 0; i < len(addrs); i += addrBlock {
		tops = append(tops, addrs[i])
	}
	return addrIndex{addrs: addrs, tops: tops}
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
	lo, hi = block*addrBlock, min((block+1)*addrBlock, len(x.addrs))
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if x.addrs[m] <= a {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo - 1
}
