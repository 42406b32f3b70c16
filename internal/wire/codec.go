package wire

import (
	"encoding/binary"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// Every request and every reply goes through these, on the client's and
// the proxy's hot paths, so both directions are coded by hand for the
// messages' common shapes, with the protobuf library as the reference:
// anything unusual (an unknown or repeated field, a wrong wire type,
// invalid UTF-8, a malformed frame) goes to the library, which gives the
// result, or the error text, a peer would have got from the real server.
// codec_test.go checks that both agree.

// DecodeCommand decodes a request: its command name and arguments. The
// strings share one allocation (none for a command without arguments
// whose name is common).
func DecodeCommand(body []byte) (string, []string, error) {
	if name, args, ok := decodeCommandFast(body); ok {
		return name, args, nil
	}
	var cmd Command
	if err := proto.Unmarshal(body, &cmd); err != nil {
		return "", nil, err
	}
	return cmd.GetCommand(), cmd.GetArgs(), nil
}

// decodeCommandFast decodes a Command made of at most one field 1 and any
// number of fields 2, all valid UTF-8; ok is false for anything else.
func decodeCommandFast(body []byte) (name string, args []string, ok bool) {
	nargs, hasName := 0, false
	var nameBytes []byte
	for b := body; len(b) > 0; {
		num, v, n := consumeString(b)
		switch {
		case n < 0 || !utf8.Valid(v):
			return "", nil, false
		case num == 1 && !hasName:
			hasName, nameBytes = true, v
		case num == 2:
			nargs++
		default:
			return "", nil, false
		}
		b = b[n:]
	}
	if nargs == 0 {
		if name, ok := commonName(nameBytes); ok {
			return name, nil, true
		}
		return string(nameBytes), nil, true
	}
	all := string(body)
	args = make([]string, 0, nargs)
	for off := 0; off < len(body); {
		num, v, n := consumeString(body[off:])
		start := off + n - len(v)
		if num == 1 {
			name = all[start : start+len(v)]
		} else {
			args = append(args, all[start:start+len(v)])
		}
		off += n
	}
	return name, args, true
}

// consumeString reads one length-delimited field at the start of b, and
// returns its number, its bytes and the length of the whole field; n is
// negative when b does not start with such a field.
func consumeString(b []byte) (num protowire.Number, v []byte, n int) {
	num, typ, tn := protowire.ConsumeTag(b)
	if tn < 0 || typ != protowire.BytesType {
		return 0, nil, -1
	}
	v, vn := protowire.ConsumeBytes(b[tn:])
	if vn < 0 {
		return 0, nil, -1
	}
	return num, v, tn + vn
}

// commonName returns, without allocating, the string of a frequent command
// name.
func commonName(b []byte) (string, bool) {
	switch string(b) {
	case "PING":
		return "PING", true
	case "STATUS":
		return "STATUS", true
	case "SESSION":
		return "SESSION", true
	}
	return "", false
}

// AppendResponse appends r, framed, to dst, as AppendFrame does (and with
// its errors): fields in number order, empty ones left out.
func AppendResponse(dst []byte, r *Response) ([]byte, error) {
	if !utf8.ValidString(r.ClientId) || !utf8.ValidString(r.Topic) || !utf8.ValidString(r.Status) {
		return AppendFrame(dst, r)
	}
	size := stringFieldSize(len(r.ClientId)) + stringFieldSize(len(r.Topic)) +
		stringFieldSize(len(r.Status)) + stringFieldSize(len(r.Result))
	if size == 0 || size > MaxFrameLen {
		return AppendFrame(dst, r)
	}
	dst = binary.BigEndian.AppendUint32(dst, uint32(size))
	dst = appendStringField(dst, 1, r.ClientId)
	dst = appendStringField(dst, 2, r.Topic)
	dst = appendStringField(dst, 3, r.Status)
	if len(r.Result) > 0 {
		dst = protowire.AppendTag(dst, 4, protowire.BytesType)
		dst = protowire.AppendBytes(dst, r.Result)
	}
	return dst, nil
}

// stringFieldSize is the encoded size of a length-delimited field of n
// bytes (fields 1 to 15 have one-byte tags), 0 when empty.
func stringFieldSize(n int) int {
	if n == 0 {
		return 0
	}
	return 1 + protowire.SizeVarint(uint64(n)) + n
}

func appendStringField(dst []byte, num protowire.Number, s string) []byte {
	if s == "" {
		return dst
	}
	dst = protowire.AppendTag(dst, num, protowire.BytesType)
	return protowire.AppendString(dst, s)
}

// AppendCommand appends a request, framed, to dst, as AppendFrame does
// for the Command (and with its errors).
func AppendCommand(dst []byte, name string, args []string) ([]byte, error) {
	size, ok := stringFieldSize(len(name)), utf8.ValidString(name)
	for _, a := range args {
		size += 1 + protowire.SizeVarint(uint64(len(a))) + len(a)
		ok = ok && utf8.ValidString(a)
	}
	if !ok || size == 0 || size > MaxFrameLen {
		return AppendFrame(dst, &Command{Command: name, Args: args})
	}
	dst = binary.BigEndian.AppendUint32(dst, uint32(size))
	dst = appendStringField(dst, 1, name)
	for _, a := range args {
		dst = protowire.AppendTag(dst, 2, protowire.BytesType)
		dst = protowire.AppendString(dst, a)
	}
	return dst, nil
}

// DecodeResponse decodes a reply into r, as proto.Unmarshal does. Its
// result is a copy: body may be reused. The common statuses, and strings
// equal to those r already holds (a connection's client id), take no
// allocation.
func DecodeResponse(body []byte, r *Response) error {
	if decodeResponseFast(body, r) {
		return nil
	}
	return proto.Unmarshal(body, r)
}

// decodeResponseFast decodes a Response made of at most one of each field,
// its strings valid UTF-8; ok is false, and r untouched, for anything
// else.
func decodeResponseFast(body []byte, r *Response) (ok bool) {
	var fields [5][]byte
	var seen [5]bool
	for b := body; len(b) > 0; {
		num, v, n := consumeString(b)
		if n < 0 || num < 1 || num > 4 || seen[num] || (num != 4 && !utf8.Valid(v)) {
			return false
		}
		seen[num], fields[num] = true, v
		b = b[n:]
	}
	r.ClientId = reuse(r.ClientId, fields[1])
	r.Topic = reuse(r.Topic, fields[2])
	r.Status = status(r.Status, fields[3])
	r.Result = append([]byte(nil), fields[4]...)
	r.unknownFields = nil
	return true
}

// status returns, without allocating for the common ones, a reply's
// status; old is the status of the reply decoded before.
func status(old string, b []byte) string {
	switch string(b) {
	case "Ok":
		return "Ok"
	case "Error":
		return "Error"
	}
	return reuse(old, b)
}

// reuse returns old if it holds b, and b as a new string otherwise: the
// replies on one connection all carry its client id, decoded once.
func reuse(old string, b []byte) string {
	if old == string(b) {
		return old
	}
	return string(b)
}
