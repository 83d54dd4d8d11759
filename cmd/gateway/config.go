package main

import (
	"errors"
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/imgcloud/gateway/archive"
	"github.com/imgcloud/gateway/dcm"
	"github.com/imgcloud/gateway/dicomweb"
	"github.com/imgcloud/gateway/index"
)

// Config is the configuration of "serve". Precedence: flags, then
// GATEWAY_* environment variables, then the --config file, then defaults
// (settings.go).
type Config struct {
	Listen  string
	Data    string
	Demo    bool
	Store   string // "file" or "s3"
	S3      S3Config
	Index   IndexConfig // indexbackend.go
	LogJSON bool
	Debug   bool

	PublicURL        string
	TrustForwarded   bool
	CORSOrigins      string
	MaxRequestBytes  int64
	MaxInstanceBytes int64
	// StowMaxParts bounds the parts of one STOW request (413 beyond).
	StowMaxParts int
	// MaxAnswerBytes bounds one multi-frame answer (frames, rendered).
	MaxAnswerBytes int64
	// BodyIdleTimeout cuts a request body that brings less than 1 KiB in
	// that long (408); 0 turns the check off.
	BodyIdleTimeout time.Duration
	// PresignRedirect > 0 answers WADO-URI downloads with a redirect to a
	// presigned S3 URL valid that long.
	PresignRedirect time.Duration
	// DebugListen, when set, serves Go's pprof profiles on that (loopback)
	// address, apart from the public listener.
	DebugListen string
	// MinFreeBytes is the room the data volumes must keep: STOW, and every
	// write to the index (audit trail, records), fail with 503 below it.
	MinFreeBytes int64
	// IndexCacheBytes bounds the memory of the index's caches of decoded
	// rows (index.Options.CacheBytes).
	IndexCacheBytes int64
	// MemoryLimit is the soft memory limit of the process (memlimit.go):
	// 0 automatic, -1 none.
	MemoryLimit int64
	// QIDODefaultLimit is the page of a QIDO search that names no limit
	// (archive.Options.DefaultLimit).
	QIDODefaultLimit int
	// QIDOScanLimit bounds the rows one search (QIDO, C-FIND) examines
	// (archive.Options.MaxExamined).
	QIDOScanLimit int
	// DefaultCharset is the character set of text in stored files that
	// name none, or name one their bytes do not fit, when the storing
	// institution has no default_charset (like Orthanc's DefaultEncoding).
	DefaultCharset string
	ShutdownGrace  time.Duration
	Access         AccessConfig
	Recognition    RecognitionConfig
	Federation     FederationConfig // federation.go
	DICOM          DICOMConfig      // dicom.go
}

// S3Config selects an S3-compatible bucket.
type S3Config struct {
	Endpoint, Bucket, AccessKey, SecretKey, Region, Prefix string
	TLS, PathStyle                                         bool
	// ObjectLock creates the bucket (when absent) with S3 object lock, so
	// that audit checkpoints cannot be deleted.
	ObjectLock bool
}

// DefaultConfig is the embedded default: a local folder and Badger under
// ./data, listening on loopback.
func DefaultConfig() Config {
	return Config{
		Listen:           "127.0.0.1:8080",
		Data:             "data",
		Store:            "file",
		Index:            defaultIndex(),
		S3:               S3Config{Bucket: "dicom", Region: "us-east-1", PathStyle: true},
		CORSOrigins:      "*",
		MaxRequestBytes:  64 << 30,
		MaxInstanceBytes: 4 << 30,
		StowMaxParts:     dicomweb.DefaultMaxStowParts,
		MaxAnswerBytes:   dicomweb.DefaultMaxAnswerBytes,
		BodyIdleTimeout:  60 * time.Second,
		MinFreeBytes:     512 << 20,
		IndexCacheBytes:  index.DefaultCacheBytes,
		QIDOScanLimit:    archive.DefaultMaxExamined,
		QIDODefaultLimit: archive.DefaultPageLimit,
		ShutdownGrace:    20 * time.Second,
		Access:           defaultAccess(),
		Federation:       defaultFederation(),
		DICOM:            defaultDICOM(),
	}
}

// Validate names the first field that is wrong.
func (c Config) Validate() error {
	switch {
	case c.Listen == "":
		return errors.New("listen: an address such as 127.0.0.1:8080 is required")
	case c.Data == "":
		return errors.New("data: a directory is required")
	case c.Store != "file" && c.Store != "s3":
		return fmt.Errorf("store: %q is neither file nor s3", c.Store)
	case c.Store == "s3" && (c.S3.Endpoint == "" || c.S3.Bucket == ""):
		return errors.New("s3-endpoint and s3-bucket are required with --store s3")
	case c.MaxRequestBytes <= 0 || c.MaxInstanceBytes <= 0:
		return errors.New("max-request-bytes and max-instance-bytes must be positive")
	case c.StowMaxParts <= 0 || c.MaxAnswerBytes <= 0:
		return errors.New("stow-max-parts and max-answer-bytes must be positive")
	case c.BodyIdleTimeout < 0:
		return errors.New("body-idle-timeout: must be 0 (off) or positive")
	case c.PublicURL != "" && !strings.HasPrefix(c.PublicURL, "http://") && !strings.HasPrefix(c.PublicURL, "https://"):
		return fmt.Errorf("public-url: %q must start with http:// or https://", c.PublicURL)
	case c.DefaultCharset != "" && dcm.NormalizeCharset(c.DefaultCharset) == "":
		return fmt.Errorf("default-charset: %q is not a character set the gateway knows (for example GB18030, GBK, ISO_IR 192 for UTF-8, ISO_IR 100)", c.DefaultCharset)
	}
	if err := c.Index.validate(); err != nil {
		return err
	}
	if err := c.DICOM.validate(); err != nil {
		return err
	}
	return c.Federation.validate()
}

// bindServe registers serve's flags on fs with c's values as defaults;
// parseSettings applies the config file, the environment and the
// command line over them.
func bindServe(fs *flag.FlagSet, c *Config) {
	configFlag(fs)
	str(fs, &c.Listen, "listen", "address to listen on (host:port)")
	str(fs, &c.Data, "data", "data directory: objects/ (file store), index/ (Badger), tmp/")
	boolean(fs, &c.Demo, "demo", "load demo studies when the index is empty")
	str(fs, &c.Store, "store", "object store: file or s3")
	str(fs, &c.S3.Endpoint, "s3-endpoint", "S3 endpoint host:port (MinIO or any S3)")
	str(fs, &c.S3.Bucket, "s3-bucket", "S3 bucket (created if absent)")
	str(fs, &c.S3.AccessKey, "s3-access-key", "S3 access key")
	secretStr(fs, &c.S3.SecretKey, "s3-secret-key", "S3 secret key")
	str(fs, &c.S3.Region, "s3-region", "S3 region")
	str(fs, &c.S3.Prefix, "s3-prefix", "key prefix inside the bucket")
	boolean(fs, &c.S3.TLS, "s3-tls", "use HTTPS to reach S3")
	boolean(fs, &c.S3.PathStyle, "s3-path-style", "path-style bucket addressing (MinIO)")
	boolean(fs, &c.S3.ObjectLock, "s3-object-lock", "create the bucket, when absent, with object lock (audit checkpoints then cannot be deleted)")
	bindIndex(fs, &c.Index)
	boolean(fs, &c.LogJSON, "log-json", "log as JSON lines (default text)")
	boolean(fs, &c.Debug, "debug", "debug logging")
	str(fs, &c.PublicURL, "public-url", "service root URL clients see, e.g. https://pacs.example.cn/dicomweb")
	boolean(fs, &c.TrustForwarded, "trust-forwarded", "trust X-Forwarded-Proto/Host/Prefix from a reverse proxy")
	str(fs, &c.CORSOrigins, "cors-origins", "comma-separated origins allowed by CORS (* for any)")
	int64v(fs, &c.MaxRequestBytes, "max-request-bytes", "largest STOW request body")
	int64v(fs, &c.MaxInstanceBytes, "max-instance-bytes", "largest single instance")
	intv(fs, &c.StowMaxParts, "stow-max-parts", "most parts (instances) in one STOW request; beyond, 413 listing what was stored")
	int64v(fs, &c.MaxAnswerBytes, "max-answer-bytes", "largest multi-frame answer (frames, rendered animations); beyond, 400 before anything is sent")
	duration(fs, &c.BodyIdleTimeout, "body-idle-timeout", "cut a request body that brings less than 1 KiB in this long (408; 0: off)")
	str(fs, &c.DebugListen, "debug-listen", "serve /debug/pprof on this address (keep it on loopback)")
	str(fs, &c.DefaultCharset, "default-charset", "character set of text in files that name none (or one their bytes do not fit), for institutions without a default_charset, e.g. GB18030")
	int64v(fs, &c.MinFreeBytes, "min-free-bytes", "refuse writes (STOW, audit trail, records: 503) while a data volume has less free space than this")
	int64v(fs, &c.IndexCacheBytes, "index-cache-bytes", "memory for the index's caches of decoded study, series and instance rows")
	int64v(fs, &c.MemoryLimit, "memory-limit", "soft memory limit of the Go heap (0: three quarters of the cgroup's memory limit, else 512MiB, unless GOMEMLIMIT is set; -1: none)")
	intv(fs, &c.QIDODefaultLimit, "qido-default-limit", "results of a QIDO search that names no limit (study lists, searches across studies; the series and instances of one study are answered whole); beyond, the Warning that more exist (limit may ask for up to 10000)")
	intv(fs, &c.QIDOScanLimit, "qido-scan-limit", "rows one search (QIDO, C-FIND) may examine, and the deepest offset: past it the page found so far is answered with a Warning, or 400 when it found nothing (a query no key narrows)")
	intv(fs, &c.QIDOScanLimit, "search-max-studies", "the former name of --qido-scan-limit")
	duration(fs, &c.PresignRedirect, "s3-presign-redirect", "with --store s3: redirect WADO-URI downloads to presigned URLs valid this long (0: off)")
	duration(fs, &c.ShutdownGrace, "shutdown-grace", "time to finish requests on shutdown")
	bindAccess(fs, &c.Access)
	bindRecognition(fs, &c.Recognition)
	bindFederation(fs, &c.Federation)
	bindDICOM(fs, &c.DICOM)
}
