// A real DICOMweb client against the gateway: dicomweb-client (the library
// OHIF uses) stores each file of FILES, finds it with QIDO, retrieves its
// metadata, the instance and its frames, and compares every value with what
// dcmjs reads from the source file (naturalized datasets), frames byte for
// byte. Run by TestDicomwebClientNode (cmd/gateway/realclients_test.go)
// with GATEWAY (DICOMweb root), TOKEN and FILES (comma-separated paths).
'use strict';
global.XMLHttpRequest = require('xhr2'); // dicomweb-client speaks XHR
const fs = require('fs');
const assert = require('assert/strict');
const { api } = require('dicomweb-client');
const dcmjs = require('dcmjs');

dcmjs.log.setLevel('error');
const { DicomMessage, DicomMetaDictionary } = dcmjs.data;

const client = new api.DICOMwebClient({
  url: process.env.GATEWAY,
  headers: { Authorization: 'Bearer ' + process.env.TOKEN },
});

function arrayBuffer(buf) {
  return buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength);
}

function read(ab) {
  const msg = DicomMessage.readFile(ab);
  return { meta: DicomMetaDictionary.naturalizeDataset(msg.meta), ds: DicomMetaDictionary.naturalizeDataset(msg.dict) };
}

function bytes(v) {
  if (v instanceof ArrayBuffer) return new Uint8Array(v);
  if (ArrayBuffer.isView(v)) return new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
  return null;
}

// blank is a value of spaces only (or a person name of such parts): DICOM
// padding, no value (DCMTK and the gateway say so; dcmjs keeps the space).
function blank(v) {
  if (v === undefined || v === null) return true;
  if (typeof v === 'string') return v.trim() === '';
  if (Array.isArray(v)) return v.every(blank);
  if (typeof v === 'object' && !bytes(v)) return Object.values(v).every(blank);
  return false;
}

// sameValue compares naturalized values; binary values byte for byte.
function sameValue(path, got, want) {
  if (blank(want) && blank(got)) return;
  if (got && typeof got === 'object' && typeof got.InlineBinary === 'string') got = Buffer.from(got.InlineBinary, 'base64');
  // AT: DICOM JSON writes the tag as 8 hex digits (PS3.18 F.2.3), dcmjs
  // reads a file's AT as a number.
  if (typeof want === 'number' && typeof got === 'string' && /^[0-9A-F]{8}$/i.test(got)) got = parseInt(got, 16);
  const w = bytes(want);
  if (w) {
    const g = bytes(got);
    assert.ok(g, `${path}: got ${JSON.stringify(got)}, want ${w.length} bytes`);
    assert.ok(Buffer.from(g).equals(Buffer.from(w)), `${path}: ${g.length} bytes differ from the source's ${w.length}`);
    return;
  }
  if (Array.isArray(want)) {
    assert.ok(Array.isArray(got), `${path}: got ${JSON.stringify(got)}, want ${JSON.stringify(want)}`);
    assert.equal(got.length, want.length, `${path}: ${got.length} values, want ${want.length}`);
    want.forEach((w, i) => sameValue(`${path}[${i}]`, got[i], w));
    return;
  }
  if (want && typeof want === 'object') {
    for (const k of Object.keys(want)) {
      if (k === '_vrMap') continue;
      sameValue(`${path}.${k}`, got && got[k], want[k]);
    }
    return;
  }
  assert.deepEqual(got, want, `${path}: got ${JSON.stringify(got)}, want ${JSON.stringify(want)}`);
}

// sameDataset compares every element of want (the source) with got;
// bulk values the gateway answers as BulkDataURI are fetched first.
async function sameDataset(what, got, want, skip) {
  let n = 0;
  for (const k of Object.keys(want)) {
    if (k === '_vrMap' || skip.includes(k)) continue;
    let g = got[k];
    if (g && typeof g === 'object' && !Array.isArray(g) && g.BulkDataURI) {
      // Pixel Data as stored (its frames, when encapsulated); any other
      // value as it is.
      const mediaTypes = k === 'PixelData' ? [{ mediaType: 'application/octet-stream', transferSyntaxUID: '*' }] : undefined;
      g = await client.retrieveBulkData({ BulkDataURI: g.BulkDataURI, mediaTypes });
      if (Array.isArray(g) && g.length === 1) g = g[0];
    }
    let w = want[k];
    if (Array.isArray(w) && w.length === 1 && bytes(w[0])) w = w[0];
    if (Array.isArray(g) && g.length === 1 && bytes(g[0])) g = g[0];
    sameValue(`${what} ${k}`, g, w);
    n++;
  }
  return n;
}

// sourceFrames splits the source's pixel data into frames: native data by
// size, encapsulated data as dcmjs gives it (one buffer per frame).
function sourceFrames(ds, meta) {
  const frames = Number(ds.NumberOfFrames || 1);
  const ts = meta.TransferSyntaxUID;
  const native = ['1.2.840.10008.1.2', '1.2.840.10008.1.2.1', '1.2.840.10008.1.2.2', '1.2.840.10008.1.2.1.99'].includes(ts);
  if (!native) return ds.PixelData.map((f) => bytes(f));
  const all = bytes(ds.PixelData[0]);
  const size = ds.Rows * ds.Columns * (ds.SamplesPerPixel || 1) * (ds.BitsAllocated / 8);
  const out = [];
  for (let i = 0; i < frames; i++) out.push(all.subarray(i * size, (i + 1) * size));
  return out;
}

async function main() {
  for (const file of process.env.FILES.split(',')) {
    const src = read(arrayBuffer(fs.readFileSync(file)));
    const ds = src.ds;
    const ids = {
      studyInstanceUID: ds.StudyInstanceUID,
      seriesInstanceUID: ds.SeriesInstanceUID,
      sopInstanceUID: ds.SOPInstanceUID,
    };
    await client.storeInstances({ datasets: [arrayBuffer(fs.readFileSync(file))] });

    const studies = await client.searchForStudies({ queryParams: { PatientID: ds.PatientID } });
    assert.ok(studies.some((s) => s['0020000D'].Value[0] === ds.StudyInstanceUID), `${file}: QIDO by PatientID does not find the study`);
    const found = await client.searchForInstances({ studyInstanceUID: ds.StudyInstanceUID });
    const row = found.find((i) => i['00080018'].Value[0] === ds.SOPInstanceUID);
    assert.ok(row, `${file}: QIDO instances of the study does not list the instance`);
    const qido = DicomMetaDictionary.naturalizeDataset(row);
    for (const k of ['SOPClassUID', 'SOPInstanceUID', 'SeriesInstanceUID', 'StudyInstanceUID', 'InstanceNumber']) {
      if (ds[k] !== undefined) sameValue(`${file} QIDO ${k}`, qido[k], ds[k]);
    }

    const metadata = await client.retrieveInstanceMetadata(ids);
    assert.equal(metadata.length, 1);
    // dcmjs decodes text while reading a file and then says ISO_IR 192
    // (UTF-8) whatever the file said; the metadata keeps the file's term.
    const nm = await sameDataset(`${file} metadata`, DicomMetaDictionary.naturalizeDataset(metadata[0]), ds, ['SpecificCharacterSet']);

    const part10 = await client.retrieveInstance(ids);
    const got = read(part10);
    const ni = await sameDataset(`${file} instance`, got.ds, ds, []);
    sameValue(`${file} instance TransferSyntaxUID`, got.meta.TransferSyntaxUID, src.meta.TransferSyntaxUID);

    const want = sourceFrames(ds, src.meta);
    const numbers = want.map((_, i) => i + 1);
    const frames = await client.retrieveInstanceFrames({
      ...ids,
      frameNumbers: numbers.join(','),
      mediaTypes: [{ mediaType: 'application/octet-stream', transferSyntaxUID: '*' }],
    });
    assert.equal(frames.length, want.length, `${file}: ${frames.length} frames, want ${want.length}`);
    frames.forEach((f, i) => sameValue(`${file} frame ${i + 1}`, f, want[i]));
    console.log(`${file}: ${src.meta.TransferSyntaxUID}: ${nm} metadata and ${ni} instance elements equal, ${frames.length} frame(s) byte for byte`);
  }
}

main().catch((e) => {
  console.error(e && e.stack ? e.stack : e);
  if (e && e.request) console.error('HTTP', e.status, e.request.responseURL);
  process.exit(1);
});
