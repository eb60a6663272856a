package symbolizer

import (
	"debug/dwarf"
	"sync"
)

// lineWorker decodes the units' line tables on a second goroutine while
// the DIE walk runs on the first: the two are independent (a unit's DIEs
// need its file names only for DW_AT_call_file, resolved after both are
// done) and each is about half of indexing a large binary.
//
// While it runs, the worker alone touches the builder's rows and file
// table (b.x.rows, b.x.files, b.fileIDs); the walk touches only nodes,
// ranges and DIE names.
type lineWorker struct {
	jobs  chan lineJob
	wg    sync.WaitGroup
	err   error
	names [][]string // per unit, in walk order: file names by DWARF file index
}

type lineJob struct {
	cu     *dwarf.Entry
	goUnit bool
}

// pendingCall is a DW_AT_call_file waiting for its unit's file names.
type pendingCall struct {
	node int32
	unit int
	file int64
}

func (b *indexBuilder) startLineWorker() *lineWorker {
	w := &lineWorker{jobs: make(chan lineJob, 256)}
	if b.lines != nil && b.x.rows == nil {
		// Growing a slice of a million rows by 25% at a time copies it
		// several times over; real line programs take 3-8 bytes per row.
		b.x.rows = make([]lineRow, 0, len(b.lines.line)/4)
	}
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		for job := range w.jobs {
			if w.err != nil {
				w.names = append(w.names, nil)
				continue // drain: the walk stops sending soon
			}
			names, err := b.readLines(job.cu, job.goUnit)
			if err != nil {
				w.err = err
			}
			w.names = append(w.names, names)
		}
	}()
	return w
}

// finish waits for the worker and fills in the inline nodes' call files.
func (w *lineWorker) finish(b *indexBuilder) error {
	close(w.jobs)
	w.wg.Wait()
	if w.err != nil {
		return w.err
	}
	for _, pc := range b.pendingCalls {
		if pc.unit < 0 || pc.unit >= len(w.names) {
			continue
		}
		files := w.names[pc.unit]
		if pc.file >= 0 && pc.file < int64(len(files)) && files[pc.file] != "" {
			b.x.nodes[pc.node].callFile = b.fileID(files[pc.file]) + 1
		}
	}
	b.pendingCalls = nil
	return nil
}
