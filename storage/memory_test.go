package storage_test

import (
	"testing"

	"github.com/stacklens/stacklens/storage"
	"github.com/stacklens/stacklens/storage/storagetest"
)

func TestInMemoryAcceptance(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storage.Bucket { return storage.NewInMemory() }, storagetest.HoldsObjectsInMemory())
}
