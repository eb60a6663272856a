package debugfiles

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
)

// ParseBreakpadModuleLine parses "MODULE os arch id name" into its parts and
// the debug_id the id spells: 32 hex digits of GUID (already in GUID byte
// order) then the age in hex.
func ParseBreakpadModuleLine(line string) (os, arch, debugID, name string, err error) {
	rest, ok := strings.CutPrefix(strings.TrimRight(line, "\r\n"), "MODULE ")
	if !ok {
		return "", "", "", "", errors.New("breakpad: no MODULE record")
	}
	f := strings.SplitN(rest, " ", 4)
	if len(f) < 3 {
		return "", "", "", "", errors.New("breakpad: short MODULE record")
	}
	id := f[2]
	if len(id) < 33 || len(id) > 40 {
		return "", "", "", "", fmt.Errorf("breakpad: bad module id %q", id)
	}
	debugID, err = NormalizeDebugID(id[:32] + "-" + id[32:])
	if err != nil {
		return "", "", "", "", fmt.Errorf("breakpad: bad module id %q", id)
	}
	if len(f) == 4 {
		name = f[3]
	}
	return f[0], strings.ToLower(f[1]), debugID, name, nil
}

func identifyBreakpad(r io.ReaderAt, size int64) ([]FileMeta, error) {
	br := bufio.NewReaderSize(io.NewSectionReader(r, 0, size), 64<<10)
	first, err := br.ReadSlice('\n')
	if err != nil && !(err == io.EOF && len(first) > 0) {
		return nil, fmt.Errorf("breakpad: MODULE line: %w", err)
	}
	_, arch, debugID, name, err := ParseBreakpadModuleLine(string(first))
	if err != nil {
		return nil, err
	}
	meta := FileMeta{Kind: KindBreakpad, Arch: arch, DebugID: debugID, ObjectName: name}
	for {
		line, err := br.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			// Skip the rest of an over-long line.
			for err == bufio.ErrBufferFull {
				_, err = br.ReadSlice('\n')
			}
			if err == io.EOF {
				break
			}
			if err != nil {
				return nil, fmt.Errorf("breakpad: %w", err)
			}
			continue
		}
		if len(line) > 0 {
			breakpadFeature(&meta, line)
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("breakpad: %w", err)
		}
	}
	return []FileMeta{meta}, nil
}

func breakpadFeature(meta *FileMeta, line []byte) {
	switch {
	case bytes.HasPrefix(line, []byte("FUNC ")):
		meta.Features = addFeature(meta.Features, FeatureDebug)
	case bytes.HasPrefix(line, []byte("PUBLIC ")):
		meta.Features = addFeature(meta.Features, FeatureSymtab)
	case bytes.HasPrefix(line, []byte("STACK ")):
		meta.Features = addFeature(meta.Features, FeatureUnwind)
	case bytes.HasPrefix(line, []byte("INFO CODE_ID ")):
		f := strings.Fields(string(line[len("INFO CODE_ID "):]))
		if len(f) > 0 {
			meta.CodeID = NormalizeCodeID(f[0])
		}
	}
}
