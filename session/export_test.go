package session

// EncodeRecord lets the external tests write rows as the stores write them
// (the PostgreSQL scale benchmark fills its table with COPY).
var EncodeRecord = encodeRecord
