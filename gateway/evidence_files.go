package gateway

import "bytes"

// StoreEvidence keeps an evidence file under dataDir exactly as an upload
// would (content-addressed, never overwritten, type sniffed and checked)
// and returns its content type. It is for tools that attach evidence
// without HTTP, such as the demo sample of `rectify serve --demo`.
func StoreEvidence(dataDir, name string, data []byte) (contentType string, err error) {
	st := newEvidenceStore(dataDir, DefaultMaxEvidenceBytes, DefaultEvidenceTypes)
	f, err := st.put(bytes.NewReader(data), name, "")
	if err != nil {
		return "", err
	}
	return f.ContentType, nil
}
