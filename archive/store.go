package archive

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io"

	"github.com/imgcloud/gateway/dcm"
	"github.com/imgcloud/gateway/index"
	"github.com/imgcloud/gateway/storage"
)

// STOW-RS failure reasons (PS3.18 table 10.5.3-3 and PS3.4 annex GG).
const (
	ReasonProcessingFailure  = 0x0110
	ReasonDuplicateSOP       = 0x0111
	ReasonOutOfResources     = 0xA700
	ReasonCannotUnderstand   = 0xC000
	ReasonStudyUIDMismatch   = 0xC409
	ReasonSOPClassNotMatched = 0xA900
	ReasonNotAuthorized      = 0x0124
)

// Stored describes one instance that was stored (or was already there with
// the same bytes).
type Stored struct {
	Study, Series, SOP, SOPClass string
	// Duplicate is true when the same bytes were already stored.
	Duplicate bool
	Size      int64
	// Compressed is the transfer syntax the instance was stored in when
	// it was compressed at ingest (Options.Compression); "" when it was
	// stored as received.
	Compressed string
}

// StoreError describes one instance that was refused.
type StoreError struct {
	// SOP and SOPClass are known when the file could be parsed.
	SOP, SOPClass string
	Reason        uint16
	Err           error
}

func (e *StoreError) Error() string { return e.Err.Error() }
func (e *StoreError) Unwrap() error { return e.Err }

// Store reads one DICOM Part 10 instance from r and stores it. When
// expectStudy is not empty the instance must belong to that study. Errors
// about the instance are *StoreError (the request may go on with the next
// part); other errors mean the request cannot go on.
func (s *Service) Store(ctx context.Context, r io.Reader, expectStudy string) (*Stored, error) {
	return s.StoreExpect(ctx, r, Expect{Study: expectStudy})
}

// Expect is what the storing party said of the instance before sending
// it; each UID that is not empty must be the data set's.
type Expect struct {
	// Study is the study of the STOW-RS URL.
	Study string
	// SOP and SOPClass are a C-STORE-RQ's Affected SOP Instance and
	// Class UID (PS3.7 9.3.1.1: they name the data set's).
	SOP, SOPClass string
}

// StoreExpect is Store with the instance checked against what the storing
// party said of it (before anything is stored).
func (s *Service) StoreExpect(ctx context.Context, r io.Reader, want Expect) (*Stored, error) {
	expectStudy := want.Study
	if err := s.checkSpace(); err != nil {
		return nil, err
	}
	sp, err := s.spool(r)
	if sp != nil {
		defer s.release(sp)
	}
	if err != nil {
		return nil, err
	}
	size, sum := sp.size, sp.sum
	h, err := dcm.ReadHeader(sp.readerAt(), size, s.limits(ctx))
	if err != nil {
		var inv *dcm.InvalidError
		if errors.As(err, &inv) {
			return nil, &StoreError{Reason: ReasonCannotUnderstand, Err: &InvalidError{Reason: inv.Error()}}
		}
		return nil, &StoreError{Reason: ReasonProcessingFailure, Err: fmt.Errorf("read header: %w", err)}
	}
	fail := func(reason uint16, err error) (*Stored, error) {
		return nil, &StoreError{SOP: h.SOPUID, SOPClass: h.SOPClassUID, Reason: reason, Err: err}
	}
	if expectStudy != "" && h.StudyUID != expectStudy {
		return fail(ReasonStudyUIDMismatch, invalid("StudyInstanceUID", "instance %s belongs to study %s, not %s named in the URL", h.SOPUID, h.StudyUID, expectStudy))
	}
	// A900: the data set does not match what the command says it is.
	if want.SOP != "" && h.SOPUID != want.SOP {
		return fail(ReasonSOPClassNotMatched, invalid("", "data set's SOPInstanceUID is %s, not the command's %s", h.SOPUID, want.SOP))
	}
	if want.SOPClass != "" && h.SOPClassUID != want.SOPClass {
		return fail(ReasonSOPClassNotMatched, invalid("", "data set's SOPClassUID is %s, not the command's %s", h.SOPClassUID, want.SOPClass))
	}
	if s.opt.Admission != nil {
		if err := s.opt.Admission.Admit(ctx, h.Dataset); err != nil {
			return fail(ReasonNotAuthorized, err)
		}
	}
	if sp.preambleNonZero {
		s.log.Warn("zeroed non-zero preamble", "sop", h.SOPUID)
	}
	s.noteIngest(h)
	out := &Stored{Study: h.StudyUID, Series: h.SeriesUID, SOP: h.SOPUID, SOPClass: h.SOPClassUID, Size: size}
	// Compressed before the lock: the work is per instance and may be long.
	obj := sp
	c := s.compressAtIngest(ctx, h, sp) // compress.go
	if c != nil {
		defer s.release(c.sp)
		obj = c.sp
	}

	lock := &s.sopLocks[lockSlot(h.SOPUID)]
	lock.Lock()
	defer lock.Unlock()
	release, err := s.claim(ctx, h.SOPUID) // claim.go: other gateways on the index
	if err != nil {
		return nil, err
	}
	defer release()

	if prev, err := s.db.InstanceBySOP(h.SOPUID); err == nil {
		same, err := s.sameContent(ctx, prev, h, sp)
		if err != nil {
			return nil, err
		}
		if same {
			out.Duplicate = true
			return out, nil
		}
		return fail(ReasonDuplicateSOP, fmt.Errorf("%w: SOP instance %s is already stored with different content; delete it first", ErrConflict, h.SOPUID))
	} else if !errors.Is(err, index.ErrNotFound) {
		return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}

	if c != nil {
		// The row says where the stored object's bytes are; the metadata
		// stays the received file's (with the ingest block).
		h.TransferSyntax, h.Frames, h.Bulk = c.h.TransferSyntax, c.h.Frames, c.h.Bulk
		size, sum = c.sp.size, c.sp.sum
		out.Compressed = h.TransferSyntax
	}
	row, meta, err := s.indexRow(h, size, sum)
	if err != nil {
		return fail(ReasonProcessingFailure, err)
	}
	if c != nil {
		row.Received = c.received
	}
	// Object first, index last: a crash in between leaves an orphan object
	// (not acknowledged, picked up by reindex), never an index row without
	// its object.
	if err := s.putObject(ctx, row.Key, obj); err != nil {
		err = mapStoreErr(fmt.Errorf("store %s: %w", h.SOPUID, err))
		if errors.Is(err, ErrUnavailable) {
			return nil, err
		}
		return fail(ReasonOutOfResources, err)
	}
	err = s.db.PutInstance(index.NewInstance{
		Instance:    row,
		Meta:        meta,
		SeriesAttrs: pick(h.Dataset, seriesTags),
		StudyAttrs:  pick(h.Dataset, studyTags),
		Modality:    h.Dataset.String(tagModality),
		Received:    s.now(),
	})
	var exists *index.ExistsError
	if errors.As(err, &exists) {
		// Another gateway on the same index (replicas on PostgreSQL) stored
		// it since the check above, under the same object key: the same
		// bytes are a duplicate, and the object is theirs to keep. The
		// object under the key may be ours by now, so only the rows are
		// compared (size and checksum of the whole file).
		if sameRow(exists.Existing, h, sp) {
			out.Duplicate = true
			return out, nil
		}
		return fail(ReasonDuplicateSOP, fmt.Errorf("%w: %s indexed concurrently", ErrConflict, h.SOPUID))
	}
	if err != nil {
		// The index refused: remove the object so nothing half-stored stays.
		if derr := s.store.Delete(context.WithoutCancel(ctx), row.Key); derr != nil {
			s.log.Error("orphan object after index failure", "key", row.Key, "err", derr)
		}
		return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return out, nil
}

// putObject stores the spooled instance: written or moved into place
// without waiting for the disk when the store can (Commit then makes it
// durable with the others), copied with Put otherwise.
//
// On an index shared by several gateways (replicas on PostgreSQL sharing
// one folder store) the object is made durable here, before its row: the
// checkpoint is one for all replicas, so another replica's commit may
// carry it past this row before this gateway has synced the object, and
// Recover would then never check the row after a crash of the machine.
// Put (S3) is durable when it returns.
func (s *Service) putObject(ctx context.Context, key string, sp *spooled) error {
	if m, ok := s.store.(storage.Mover); ok {
		err := moveObject(ctx, m, key, sp)
		if !errors.Is(err, storage.ErrCannotMove) {
			if err == nil && s.shared {
				err = m.Sync(ctx)
			}
			return err
		}
	}
	if sp.file == nil {
		return s.store.Put(ctx, key, bytes.NewReader(sp.mem), sp.size)
	}
	if _, err := sp.file.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("rewind spool: %w", err)
	}
	return s.store.Put(ctx, key, sp.file, sp.size)
}

// moveObject writes or moves the spooled instance into place without
// waiting for the disk; storage.ErrCannotMove when the spool file is on
// another volume.
func moveObject(ctx context.Context, m storage.Mover, key string, sp *spooled) error {
	if sp.file == nil {
		return m.WriteIn(ctx, key, sp.mem)
	}
	err := m.MoveIn(ctx, key, sp.file, sp.size)
	sp.moved = err == nil
	return err
}

// sameContent reports whether the spooled part is the instance already
// stored as prev: in the same series, with the same data set in the same
// transfer syntax. The file meta is left out of the comparison: it names
// the sender (the calling AE of a C-STORE, the writer's implementation),
// so the same instance sent by a modality and by its PACS differs there
// and is still the same instance. The data sets are compared byte for
// byte with the stored object, not only a checksum (CRC-32C is easy to
// forge), and only for a re-sent instance, which is rare.
func (s *Service) sameContent(ctx context.Context, prev *index.Instance, h *dcm.Header, sp *spooled) (bool, error) {
	if prev.Study != h.StudyUID || prev.Series != h.SeriesUID {
		return false, nil
	}
	if r := prev.Received; r != nil {
		// Compressed at ingest: the stored object is not what was
		// received, the SHA-256 of the received data set is kept instead
		// (as hard to forge as the bytes are to match).
		if h.TransferSyntax != r.TransferSyntax {
			return false, nil
		}
		d, err := dataSetDigest(io.NewSectionReader(sp.readerAt(), 0, sp.size))
		if err != nil {
			return false, nil
		}
		return d == r.DataSetSHA256, nil
	}
	rc, err := s.store.Get(ctx, prev.Key, 0, -1)
	if err != nil {
		return false, mapStoreErr(fmt.Errorf("compare with %s: %w", prev.Key, err))
	}
	defer rc.Close()
	stored, mine := bufio.NewReaderSize(rc, 64<<10), bufio.NewReaderSize(io.NewSectionReader(sp.readerAt(), 0, sp.size), 64<<10)
	tsStored, err := dcm.SkipFileMeta(stored)
	if err != nil {
		return false, fmt.Errorf("compare with %s: %w", prev.Key, err)
	}
	tsMine, err := dcm.SkipFileMeta(mine)
	if err != nil || tsMine != tsStored {
		return false, nil
	}
	same, err := sameBytes(stored, mine)
	if err != nil {
		return false, mapStoreErr(fmt.Errorf("compare with %s: %w", prev.Key, err))
	}
	return same, nil
}

// sameRow reports whether prev's row describes the spooled file: same
// series, size and CRC-32C (of the file received, for a row of an
// instance compressed at ingest).
func sameRow(prev *index.Instance, h *dcm.Header, sp *spooled) bool {
	if r := prev.Received; r != nil {
		// Compressed at ingest by the other gateway: its row keeps what it
		// received.
		return prev.Study == h.StudyUID && prev.Series == h.SeriesUID && r.Size == sp.size && r.CRC32C == sp.sum
	}
	return prev.Study == h.StudyUID && prev.Series == h.SeriesUID && prev.Size == sp.size &&
		(prev.CRC32C == "" || prev.CRC32C == sp.sum)
}

// sameBytes reports whether a and b yield the same bytes.
func sameBytes(a, b io.Reader) (bool, error) {
	ba, bb := make([]byte, 64<<10), make([]byte, 64<<10)
	for {
		na, ea := io.ReadFull(a, ba)
		if ea != nil && ea != io.EOF && ea != io.ErrUnexpectedEOF {
			return false, ea
		}
		nb, eb := io.ReadFull(b, bb)
		if eb != nil && eb != io.EOF && eb != io.ErrUnexpectedEOF {
			return false, eb
		}
		if na != nb || !bytes.Equal(ba[:na], bb[:nb]) {
			return false, nil
		}
		if ea != nil || eb != nil {
			return ea != nil && eb != nil, nil
		}
	}
}

func lockSlot(sop string) int {
	h := fnv.New32a()
	h.Write([]byte(sop))
	return int(h.Sum32() % 64)
}

// readErr remembers a read error so that it can be told from a write error.
type readErr struct {
	r   io.Reader
	err error
}

func (r *readErr) Read(b []byte) (int, error) {
	n, err := r.r.Read(b)
	if err != nil && err != io.EOF {
		r.err = err
	}
	return n, err
}

// indexRow builds the index row and the metadata (DICOM JSON) of an
// instance. The metadata is stored as is: Badger compresses its tables,
// and serving it then needs no decompression. It turns the bulk paths of
// h.Dataset into BulkDataURIs in place (no copy of the data set): every
// later use of the header, the rows' attributes included, wants those.
func (s *Service) indexRow(h *dcm.Header, size int64, sum string) (*index.Instance, []byte, error) {
	prefix := BasePlaceholder + "/studies/" + h.StudyUID + "/series/" + h.SeriesUID + "/instances/" + h.SOPUID
	h.Dataset.WalkBulk(func(e *dcm.Element) { e.BulkDataURI = prefix + "/bulkdata/" + e.BulkDataURI })
	js, err := h.Dataset.AppendJSON(nil)
	if err != nil {
		return nil, nil, fmt.Errorf("encode metadata: %w", err)
	}
	row := &index.Instance{
		Study: h.StudyUID, Series: h.SeriesUID, SOP: h.SOPUID,
		Attrs:          pick(h.Dataset, instanceTags),
		Key:            storage.InstanceKey(h.StudyUID, h.SeriesUID, h.SOPUID),
		Size:           size,
		CRC32C:         sum,
		TransferSyntax: h.TransferSyntax,
		Frames:         h.Frames,
		Bulk:           h.Bulk,
	}
	return row, js, nil
}

// pick copies the listed top-level attributes that are present.
func pick(ds dcm.Dataset, tags []string) dcm.Dataset {
	// Sized for what is present, not for every tag listed: the index's row
	// caches keep these maps, and a map made for 40 keys holding 12 took
	// three times the memory the caches count.
	n := 0
	for _, t := range tags {
		if _, ok := ds[t]; ok {
			n++
		}
	}
	out := make(dcm.Dataset, n)
	for _, t := range tags {
		if e, ok := ds[t]; ok {
			out[t] = e
		}
	}
	return out
}
