package index

import (
	"strconv"
	"time"

	"github.com/imgcloud/gateway/dcm"
	"github.com/imgcloud/gateway/internal/jsonappend"
)

// Rows are written on every stored instance (the instance, its series and
// its study), so they are encoded by hand rather than by reflection. The
// bytes are those encoding/json writes for the struct tags (rowjson_test
// checks it), so rows decode with encoding/json as before.

func (in *Instance) appendJSON(b []byte) ([]byte, error) {
	b = field(b, '{', "study", in.Study)
	b = field(b, ',', "series", in.Series)
	b = field(b, ',', "sop", in.SOP)
	b, err := in.Attrs.AppendJSON(append(b, `,"attrs":`...))
	if err != nil {
		return nil, err
	}
	b = field(b, ',', "key", in.Key)
	b = strconv.AppendInt(append(b, `,"size":`...), in.Size, 10)
	if in.SHA256 != "" {
		b = field(b, ',', "sha256", in.SHA256)
	}
	if in.CRC32C != "" {
		b = field(b, ',', "crc32c", in.CRC32C)
	}
	b = field(b, ',', "ts", in.TransferSyntax)
	b = appendFrames(append(b, `,"frames":`...), &in.Frames)
	if len(in.Bulk) > 0 {
		b = append(b, `,"bulk":[`...)
		for i, r := range in.Bulk {
			if i > 0 {
				b = append(b, ',')
			}
			b = field(b, '{', "p", r.Path)
			b = appendRange(append(b, `,"r":`...), r.Range)
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	if r := in.Received; r != nil {
		b = strconv.AppendInt(append(b, `,"received":{"size":`...), r.Size, 10)
		if r.CRC32C != "" {
			b = field(b, ',', "crc32c", r.CRC32C)
		}
		b = field(b, ',', "ts", r.TransferSyntax)
		b = append(field(b, ',', "ds_sha256", r.DataSetSHA256), '}')
	}
	b = strconv.AppendUint(append(b, `,"seq":`...), in.Seq, 10)
	return append(b, '}'), nil
}

func (s *Series) appendJSON(b []byte) ([]byte, error) {
	b = field(b, '{', "study", s.Study)
	b = field(b, ',', "uid", s.UID)
	b, err := s.Attrs.AppendJSON(append(b, `,"attrs":`...))
	if err != nil {
		return nil, err
	}
	b = strconv.AppendInt(append(b, `,"instances":`...), int64(s.Instances), 10)
	b = strconv.AppendUint(append(b, `,"version":`...), s.Version, 10)
	return append(b, '}'), nil
}

func (st *Study) appendJSON(b []byte) ([]byte, error) {
	b = field(b, '{', "uid", st.UID)
	b, err := st.Attrs.AppendJSON(append(b, `,"attrs":`...))
	if err != nil {
		return nil, err
	}
	b = append(b, `,"modalities":`...)
	if st.Modalities == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i, m := range st.Modalities {
			if i > 0 {
				b = append(b, ',')
			}
			b = jsonappend.String(b, m)
		}
		b = append(b, ']')
	}
	b = strconv.AppendInt(append(b, `,"series":`...), int64(st.Series), 10)
	b = strconv.AppendInt(append(b, `,"instances":`...), int64(st.Instances), 10)
	b = strconv.AppendUint(append(b, `,"version":`...), st.Version, 10)
	b = append(b, `,"received":"`...)
	b = st.Received.AppendFormat(b, time.RFC3339Nano)
	return append(b, `"}`...), nil
}

// field appends sep, then "name":"value".
func field(b []byte, sep byte, name, value string) []byte {
	b = append(b, sep, '"')
	b = append(b, name...)
	b = append(b, '"', ':')
	return jsonappend.String(b, value)
}

func appendRange(b []byte, r dcm.Range) []byte {
	b = strconv.AppendInt(append(b, `{"o":`...), r.Offset, 10)
	b = strconv.AppendInt(append(b, `,"l":`...), r.Length, 10)
	return append(b, '}')
}

// appendFrames writes a FrameTable with its omitempty fields.
func appendFrames(b []byte, f *dcm.FrameTable) []byte {
	start := len(b)
	b = append(b, '{')
	if f.Encapsulated {
		b = append(b, `"enc":true,`...)
	}
	if f.Deflated {
		b = append(b, `"defl":true,`...)
	}
	if f.DeflateStart != 0 {
		b = strconv.AppendInt(append(b, `"dstart":`...), f.DeflateStart, 10)
		b = append(b, ',')
	}
	if len(f.Frames) > 0 {
		b = append(b, `"f":[`...)
		for i, frame := range f.Frames {
			if i > 0 {
				b = append(b, ',')
			}
			if frame == nil {
				b = append(b, "null"...)
				continue
			}
			b = append(b, '[')
			for j, r := range frame {
				if j > 0 {
					b = append(b, ',')
				}
				b = appendRange(b, r)
			}
			b = append(b, ']')
		}
		b = append(b, "],"...)
	}
	if len(b) > start+1 {
		b = b[:len(b)-1] // the last comma
	}
	return append(b, '}')
}
