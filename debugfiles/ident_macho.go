package debugfiles

import (
	"debug/macho"
	"encoding/binary"
	"encoding/hex"
	"io"
)

const lcUUID = 0x1b

func isMachO(head []byte) bool {
	switch binary.BigEndian.Uint32(head) {
	case macho.Magic32, macho.Magic64, macho.MagicFat,
		0xcefaedfe, 0xcffaedfe: // thin, little-endian
		return true
	}
	return false
}

func identifyMachO(r io.ReaderAt, size int64) ([]FileMeta, error) {
	sr := io.NewSectionReader(r, 0, size)
	head, err := readAtMost(r, 0, 4, size)
	if err != nil {
		return nil, err
	}
	if binary.BigEndian.Uint32(head) != macho.MagicFat {
		f, err := macho.NewFile(sr)
		if err != nil {
			return nil, err
		}
		return []FileMeta{machoMeta(f)}, nil
	}
	ff, err := macho.NewFatFile(sr)
	if err != nil {
		return nil, err
	}
	metas := make([]FileMeta, 0, len(ff.Arches))
	for _, a := range ff.Arches {
		metas = append(metas, machoMeta(a.File))
	}
	return metas, nil
}

func machoMeta(f *macho.File) FileMeta {
	meta := FileMeta{Kind: KindMachO, Arch: machoArch(f.Cpu, f.SubCpu)}
	var uuid [16]byte
	for _, l := range f.Loads {
		raw := l.Raw()
		if len(raw) >= 24 && f.ByteOrder.Uint32(raw) == lcUUID {
			copy(uuid[:], raw[8:24])
			// Symbolic reports the UUID bytes as written, unswapped, for both.
			meta.CodeID = hex.EncodeToString(uuid[:])
			break
		}
	}
	meta.DebugID = formatDebugID(uuid, 0)
	if f.Symtab != nil {
		meta.Features = addFeature(meta.Features, FeatureSymtab)
	}
	for _, s := range f.Sections {
		switch s.Name {
		case "__debug_info":
			meta.Features = addFeature(meta.Features, FeatureDebug)
		case "__eh_frame", "__debug_frame", "__unwind_info":
			meta.Features = addFeature(meta.Features, FeatureUnwind)
		}
	}
	return meta
}

// machoArch names a CPU type/subtype pair as symbolic's Arch does.
func machoArch(cpu macho.Cpu, sub uint32) string {
	sub &^= 0xff000000 // capability bits (CPU_SUBTYPE_MASK)
	switch uint32(cpu) {
	case 7: // i386
		if sub == 3 {
			return "x86"
		}
		return "x86_unknown"
	case 0x01000007: // x86_64
		switch sub {
		case 3:
			return "x86_64"
		case 8:
			return "x86_64h"
		}
		return "x86_64_unknown"
	case 0x0100000c: // arm64
		switch sub {
		case 0:
			return "arm64"
		case 1:
			return "arm64v8"
		case 2:
			return "arm64e"
		}
		return "arm64_unknown"
	case 0x0200000c: // arm64_32
		switch sub {
		case 0:
			return "arm64_32"
		case 1:
			return "arm64_32_v8"
		}
		return "arm64_32_unknown"
	case 12: // arm
		switch sub {
		case 0:
			return "arm"
		case 7:
			return "armv5"
		case 6:
			return "armv6"
		case 14:
			return "armv6m"
		case 9:
			return "armv7"
		case 10:
			return "armv7f"
		case 11:
			return "armv7s"
		case 12:
			return "armv7k"
		case 15:
			return "armv7m"
		case 16:
			return "armv7em"
		}
		return "arm_unknown"
	case 18:
		if sub == 0 {
			return "ppc"
		}
	case 0x01000012:
		if sub == 0 {
			return "ppc64"
		}
	}
	return "unknown"
}
