/* A baseline JPEG's picture at 1/8 scale in grey, from its luma DC coefficients alone.
 *
 * The bytes are those libjpeg-turbo gives for scale 1/8 and a greyscale output (what Pillow's draft("L", ...)
 * asks it for), found for less work: at 1/8 scale only each block's first coefficient is used, and the other 63
 * of every block, luma and chroma, only have to be stepped over. libjpeg-turbo steps over them one Huffman code at
 * a time; here one table look-up steps over several codes and their value bits at once, which takes a phone
 * photo's decode from about 23 to 14 ms of CPU.
 *
 * Only what a camera or phone writes is taken: 8-bit baseline (or extended) Huffman JPEG, one scan holding every
 * component, grey or YCbCr with luma at full resolution. Anything else, and any sign of damage (a bad code, data
 * cut short, a restart marker out of place, anything but the end of the image after the scan), returns
 * DC_UNSUPPORTED or DC_CORRUPT, and the caller decodes the file with Pillow instead, which reports the damage the
 * way it always did. Every read is bounds-checked: the input may be hostile.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

enum { DC_OK = 0, DC_UNSUPPORTED = 1, DC_CORRUPT = 2 };

#define FAST_BITS 11  /* codes up to this long are found by one look-up */
#define MULTI_BITS 14 /* the window the several-steps table looks at (16K entries: 14 was fastest of 12 to 16) */
/* libjpeg-turbo's limits (jmorecfg.h, jpeglib.h): a file beyond them is an error there, so it must not decode here */
#define JPEG_MAX_DIMENSION 65500
#define MAX_BLOCKS_IN_MCU 10

typedef struct {
    uint16_t fast[1 << FAST_BITS]; /* (code length << 8) | symbol; 0: a longer code */
    uint16_t step[1 << FAST_BITS]; /* (coefficients advanced << 8) | code and value bits; 0: they do not fit */
    int32_t maxcode[18];
    int32_t valoffset[18];
    uint8_t values[256];
    int defined;
} Table;

typedef struct {
    Table dc[4], ac[4];
    uint32_t multi[4][1 << MULTI_BITS]; /* per AC table, see build_multi */
} Tables;

typedef struct {
    const uint8_t *data;
    size_t pos, end;
    uint64_t acc;  /* the next bits of the stream, the first at the top */
    int nbits;     /* valid bits in acc */
    int padbits;   /* zero bits put after a marker or the end of the data; consuming them means damage */
    int stopped;   /* a marker or the end of the data stopped the reading */
} Bits;

typedef struct {
    int id, h, v, tq, td, ta;
    uint32_t pred; /* unsigned: libjpeg keeps an int and cuts it to 16 bits; wrapping gives the same 16 bits */
    int16_t q0;
} Component;

static void refill_slow(Bits *b) {
    b->acc &= ~(UINT64_MAX >> b->nbits); /* drop what a fast refill read ahead: it is read again below */
    while (b->nbits <= 56) {
        uint32_t c = 0;
        if (!b->stopped) {
            if (b->pos >= b->end) {
                b->stopped = 1;
            } else if (b->data[b->pos] != 0xFF) {
                c = b->data[b->pos++];
            } else if (b->pos + 1 < b->end && b->data[b->pos + 1] == 0x00) {
                c = 0xFF; /* a stuffed 0xFF */
                b->pos += 2;
            } else {
                b->stopped = 1; /* a marker: pos stays on its 0xFF */
            }
        }
        if (b->stopped) b->padbits += 8;
        b->acc |= (uint64_t)c << (56 - b->nbits);
        b->nbits += 8;
    }
}

static inline void refill(Bits *b) {
    if (b->pos + 8 <= b->end) {
        const uint8_t *p = b->data + b->pos;
        /* big-endian whatever the machine's order; compilers make this one load and a byte swap */
        uint64_t word = (uint64_t)p[0] << 56 | (uint64_t)p[1] << 48 | (uint64_t)p[2] << 40 | (uint64_t)p[3] << 32 |
                        (uint64_t)p[4] << 24 | (uint64_t)p[5] << 16 | (uint64_t)p[6] << 8 | (uint64_t)p[7];
        uint64_t inverse = ~word; /* a 0xFF byte becomes a zero byte */
        if (!((inverse - 0x0101010101010101ULL) & ~inverse & 0x8080808080808080ULL)) {
            /* no 0xFF among the next 8 bytes: take as many whole bytes as fit (F. Giesen's branchless refill) */
            b->acc |= word >> b->nbits;
            b->pos += (size_t)((63 - b->nbits) >> 3);
            b->nbits |= 56;
            return;
        }
    }
    refill_slow(b);
}

static inline void drop(Bits *b, int n) {
    b->acc <<= n;
    b->nbits -= n;
}

/* libjpeg-turbo's checks on a table (jpeg_make_d_derived_tbl): no code may be all ones, DC sizes at most 15. */
static int build_table(Table *t, const uint8_t counts[16], const uint8_t *values, int nvalues, int is_dc) {
    int code = 0, k = 0;
    memset(t, 0, sizeof(*t));
    memcpy(t->values, values, (size_t)nvalues);
    for (int l = 1; l <= 16; l++) {
        t->valoffset[l] = k - code;
        for (int i = 0; i < counts[l - 1]; i++, k++, code++) {
            int sym = values[k];
            if (code >= (1 << l) - 1 || (is_dc && sym > 15)) return DC_UNSUPPORTED;
            if (l <= FAST_BITS) {
                int extra = is_dc ? sym : (sym & 15);
                /* a coefficient of run r moves r + 1 places; ZRL (0xF0) 16; any other zero size ends the block */
                int advance = is_dc ? 1 : (sym & 15) ? (sym >> 4) + 1 : (sym >> 4) == 15 ? 16 : 0;
                int shift = FAST_BITS - l;
                for (int j = 0; j < (1 << shift); j++) {
                    int index = (code << shift) | j;
                    t->fast[index] = (uint16_t)((l << 8) | sym);
                    t->step[index] = l + extra <= FAST_BITS ? (uint16_t)((advance << 8) | (l + extra)) : 0;
                }
            }
        }
        t->maxcode[l] = counts[l - 1] ? code - 1 : -1;
        code <<= 1;
    }
    t->maxcode[17] = INT32_MAX;
    t->defined = 1;
    return DC_OK;
}

/* For an AC table: the longest run of whole steps (code and value bits) in each MULTI_BITS-bit window, ending at
 * the end-of-block if one is among them. Entry: bits (5) | places moved, plus one if it ends the block (7) << 5 |
 * ends (1) << 12; and the first step alone, for a block's last places: bits (5) << 16 | places (5) << 21 |
 * ends (1) << 26. Zero: the first step does not fit the fast table. */
static void build_multi(const Table *t, uint32_t *multi) {
    for (uint32_t index = 0; index < (1u << MULTI_BITS); index++) {
        uint32_t used = 0, advance = 0, ends = 0, first = 0;
        for (int count = 0; count < 8 && !ends && advance <= 64; count++) {
            uint32_t window = (index << used) & ((1u << MULTI_BITS) - 1);
            uint16_t e = t->step[window >> (MULTI_BITS - FAST_BITS)];
            uint32_t bits = e & 0xFF, places = e >> 8;
            if (!e || bits > MULTI_BITS - used) break;
            used += bits;
            if (places == 0) ends = 1; else advance += places;
            if (count == 0) first = (bits << 16) | (places << 21) | (ends << 26);
        }
        multi[index] = first ? (used | ((advance + ends) << 5) | (ends << 12) | first) : 0;
    }
}

/* The next symbol; -1 when no code matches (libjpeg warns of corrupt data and goes on with zero). */
static int symbol(Bits *b, const Table *t) {
    if (b->nbits < 32) refill(b);
    uint16_t e = t->fast[b->acc >> (64 - FAST_BITS)];
    if (e) {
        drop(b, e >> 8);
        return e & 0xFF;
    }
    for (int l = FAST_BITS + 1; l <= 16; l++) {
        int32_t code = (int32_t)(b->acc >> (64 - l));
        if (code <= t->maxcode[l]) {
            int index = code + t->valoffset[l];
            drop(b, l);
            return index >= 0 && index < 256 ? t->values[index] : -1;
        }
    }
    return -1;
}

static inline int skip_dc(Bits *b, const Table *t) {
    if (b->nbits < 32) refill(b);
    uint16_t e = t->step[b->acc >> (64 - FAST_BITS)];
    if (e) {
        drop(b, e & 0xFF);
        return 0;
    }
    int s = symbol(b, t);
    if (s < 0) return -1;
    drop(b, s);
    return 0;
}

/* Step over a block's 63 AC coefficients, as libjpeg's decode_mcu does when it does not need them. */
static inline int skip_ac(Bits *b, const Table *t, const uint32_t *multi) {
    for (int k = 1; k < 64;) {
        if (b->nbits < 32) refill(b);
        uint32_t e = multi[b->acc >> (64 - MULTI_BITS)];
        if (e) {
            uint32_t advance = (e >> 5) & 127;
            if ((uint32_t)k + advance <= 64) {
                drop(b, (int)(e & 31));
                if (e & (1u << 12)) return 0;
                k += (int)advance;
            } else { /* the run would go past the block's end: one step only */
                drop(b, (int)((e >> 16) & 31));
                if (e & (1u << 26)) return 0;
                k += (int)((e >> 21) & 31);
            }
            continue;
        }
        int sym = symbol(b, t);
        if (sym < 0) return -1;
        int r = sym >> 4, s = sym & 15;
        if (s) {
            drop(b, s);
            k += r + 1;
        } else if (r == 15) {
            k += 16;
        } else {
            return 0;
        }
    }
    return 0;
}

static inline int luma_dc(Bits *b, const Table *t, uint32_t *pred) {
    int s = symbol(b, t);
    if (s < 0) return -1;
    if (s) {
        int r = (int)(b->acc >> (64 - s));
        drop(b, s);
        *pred += (uint32_t)(r < (1 << (s - 1)) ? r - (1 << s) + 1 : r);
    }
    return 0;
}

/* libjpeg-turbo's jpeg_idct_1x1 and its range-limit table, the wrap-around of far-out values included. */
static inline uint8_t pixel(uint32_t pred, int16_t q0) {
    int dc = (int)(int16_t)(uint16_t)pred * (int)q0;
    int x = ((dc + 4) >> 3) & 1023;
    if (x < 128) return (uint8_t)(x + 128);
    if (x < 512) return 255;
    if (x < 896) return 0;
    return (uint8_t)(x - 896);
}

static size_t skip_fill(const uint8_t *d, size_t pos, size_t end) {
    while (pos < end && d[pos] == 0xFF) pos++;
    return pos;
}

/* At the end of a restart interval or of the scan: every bit used was data, less than a byte of padding is left,
 * and a marker follows at once. Returns the marker's code and starts reading after it; -1 otherwise. */
static int marker_after(Bits *b) {
    refill(b);
    if (!b->stopped || b->nbits < b->padbits || b->nbits - b->padbits >= 8) return -1;
    size_t p = skip_fill(b->data, b->pos, b->end);
    if (p == b->pos || p >= b->end) return -1;
    b->pos = p + 1;
    b->acc = 0;
    b->nbits = b->padbits = b->stopped = 0;
    return b->data[p];
}

static inline size_t be16(const uint8_t *p) { return (size_t)((p[0] << 8) | p[1]); }

static int decode_scan(const uint8_t *d, size_t n, size_t pos, Tables *tables, Component *comps, int nf,
                       size_t width, size_t height, int interval, uint8_t *out) {
    int hmax = 1, vmax = 1;
    for (int c = 0; c < nf; c++) {
        hmax = comps[c].h > hmax ? comps[c].h : hmax;
        vmax = comps[c].v > vmax ? comps[c].v : vmax;
    }
    if (nf == 1) hmax = vmax = comps[0].h = comps[0].v = 1; /* one component: one block an MCU, whatever it says */
    if (comps[0].h != hmax || comps[0].v != vmax) return DC_UNSUPPORTED; /* luma below full resolution */
    size_t ow = (width + 7) / 8, oh = (height + 7) / 8;
    size_t mcus_x = (width + 8 * (size_t)hmax - 1) / (8 * (size_t)hmax);
    size_t mcus_y = (height + 8 * (size_t)vmax - 1) / (8 * (size_t)vmax);
    Bits b = {d, pos, n, 0, 0, 0, 0};
    int restarts = 0;
    size_t left = interval ? (size_t)interval : SIZE_MAX;
    for (size_t my = 0; my < mcus_y; my++) {
        for (size_t mx = 0; mx < mcus_x; mx++) {
            if (left == 0) {
                if (marker_after(&b) != 0xD0 + (restarts & 7)) return DC_CORRUPT;
                restarts++;
                left = (size_t)interval;
                for (int c = 0; c < nf; c++) comps[c].pred = 0;
            }
            left--;
            for (int c = 0; c < nf; c++) {
                const Table *dct = &tables->dc[comps[c].td], *act = &tables->ac[comps[c].ta];
                const uint32_t *multi = tables->multi[comps[c].ta];
                for (int j = 0; j < comps[c].v; j++) {
                    for (int i = 0; i < comps[c].h; i++) {
                        if (c == 0) {
                            if (luma_dc(&b, dct, &comps[0].pred)) return DC_CORRUPT;
                            size_t bx = mx * (size_t)hmax + (size_t)i, by = my * (size_t)vmax + (size_t)j;
                            if (bx < ow && by < oh) out[by * ow + bx] = pixel(comps[0].pred, comps[0].q0);
                        } else if (skip_dc(&b, dct)) {
                            return DC_CORRUPT;
                        }
                        if (skip_ac(&b, act, multi)) return DC_CORRUPT;
                    }
                }
            }
            if (b.nbits < b.padbits) return DC_CORRUPT; /* read past the data */
        }
    }
    return marker_after(&b) == 0xD9 ? DC_OK : DC_CORRUPT;
}

/* Decode d[0:n], a picture of expected_w x expected_h pixels, into out (its size at 1/8 scale). */
static int luma_dc_decode(const uint8_t *d, size_t n, size_t expected_w, size_t expected_h, uint8_t *out,
                          Tables *tables) {
    static const uint8_t jfif[5] = {'J', 'F', 'I', 'F', 0};
    int16_t quant[4] = {0};
    int quant_defined[4] = {0};
    Component comps[3];
    int nf = 0, interval = 0, saw_jfif = 0, seen_frame = 0;
    size_t width = 0, height = 0;
    for (int i = 0; i < 4; i++) tables->dc[i].defined = tables->ac[i].defined = 0;
    if (n < 4 || d[0] != 0xFF || d[1] != 0xD8) return DC_UNSUPPORTED;
    size_t pos = 2;
    for (;;) {
        if (pos >= n || d[pos] != 0xFF) return DC_UNSUPPORTED;
        pos = skip_fill(d, pos, n);
        if (pos + 3 > n) return DC_UNSUPPORTED;
        int m = d[pos];
        size_t len = be16(d + pos + 1);
        if (len < 2 || pos + 1 + len > n) return DC_UNSUPPORTED;
        const uint8_t *seg = d + pos + 3;
        size_t seglen = len - 2;
        pos += 1 + len;
        if (m == 0xC0 || m == 0xC1) { /* baseline, extended sequential (Huffman) */
            if (seen_frame || seglen < 6) return DC_UNSUPPORTED;
            seen_frame = 1;
            nf = seg[5];
            height = be16(seg + 1);
            width = be16(seg + 3);
            if (seg[0] != 8 || (nf != 1 && nf != 3) || seglen != 6 + 3 * (size_t)nf || !width || !height ||
                width > JPEG_MAX_DIMENSION || height > JPEG_MAX_DIMENSION)
                return DC_UNSUPPORTED;
            for (int c = 0; c < nf; c++) {
                comps[c].id = seg[6 + 3 * c];
                comps[c].h = seg[7 + 3 * c] >> 4;
                comps[c].v = seg[7 + 3 * c] & 15;
                comps[c].tq = seg[8 + 3 * c];
                if (comps[c].h < 1 || comps[c].h > 4 || comps[c].v < 1 || comps[c].v > 4 || comps[c].tq > 3)
                    return DC_UNSUPPORTED;
            }
        } else if (m == 0xC4) {
            for (size_t p = 0; p < seglen;) {
                if (p + 17 > seglen) return DC_UNSUPPORTED;
                int tc = seg[p] >> 4, th = seg[p] & 15, total = 0;
                for (int i = 0; i < 16; i++) total += seg[p + 1 + i];
                if (tc > 1 || th > 3 || total > 256 || p + 17 + (size_t)total > seglen) return DC_UNSUPPORTED;
                Table *t = tc ? &tables->ac[th] : &tables->dc[th];
                if (build_table(t, seg + p + 1, seg + p + 17, total, tc == 0) != DC_OK) return DC_UNSUPPORTED;
                p += 17 + (size_t)total;
            }
        } else if (m == 0xDB) {
            for (size_t p = 0; p < seglen;) {
                int pq = seg[p] >> 4, tq = seg[p] & 15;
                size_t size = pq ? 128 : 64;
                if (pq > 1 || tq > 3 || p + 1 + size > seglen) return DC_UNSUPPORTED;
                size_t q = pq ? be16(seg + p + 1) : seg[p + 1];
                if (q > INT16_MAX) return DC_UNSUPPORTED; /* libjpeg-turbo keeps it in a short */
                quant[tq] = (int16_t)q;
                quant_defined[tq] = 1;
                p += 1 + size;
            }
        } else if (m == 0xDD) {
            if (seglen != 2) return DC_UNSUPPORTED;
            interval = (int)be16(seg);
        } else if (m == 0xE0) {
            saw_jfif |= seglen >= 14 && !memcmp(seg, jfif, 5); /* libjpeg's examine_app0 wants 14 bytes */
        } else if (m == 0xEE) {
            return DC_UNSUPPORTED; /* Adobe's marker decides the colour transform: left to libjpeg */
        } else if ((m >= 0xE1 && m <= 0xEF) || m == 0xFE) {
            /* application data (EXIF, ICC, ...) and comments */
        } else if (m == 0xDA) {
            if (!seen_frame || seglen < 1 || seg[0] != nf || seglen != 4 + 2 * (size_t)nf) return DC_UNSUPPORTED;
            for (int c = 0; c < nf; c++) { /* every component, in the frame's order */
                if (seg[1 + 2 * c] != comps[c].id) return DC_UNSUPPORTED;
                comps[c].td = seg[2 + 2 * c] >> 4;
                comps[c].ta = seg[2 + 2 * c] & 15;
                if (comps[c].td > 3 || comps[c].ta > 3 || !tables->dc[comps[c].td].defined ||
                    !tables->ac[comps[c].ta].defined || !quant_defined[comps[c].tq])
                    return DC_UNSUPPORTED;
                comps[c].q0 = quant[comps[c].tq];
                comps[c].pred = 0;
            }
            const uint8_t *tail = seg + 1 + 2 * nf;
            if (tail[0] != 0 || tail[1] != 63 || tail[2] != 0) return DC_UNSUPPORTED;
            break;
        } else {
            return DC_UNSUPPORTED; /* progressive, arithmetic, lossless, hierarchical, DNL, ... */
        }
    }
    int blocks_in_mcu = 0;
    for (int c = 0; c < nf; c++) {
        blocks_in_mcu += comps[c].h * comps[c].v;
        for (int other = 0; other < c; other++)
            if (comps[other].id == comps[c].id) return DC_UNSUPPORTED; /* libjpeg-turbo renames one: left to it */
    }
    if (nf > 1 && blocks_in_mcu > MAX_BLOCKS_IN_MCU) return DC_UNSUPPORTED; /* libjpeg refuses such a file */
    /* libjpeg takes three components as RGB, not YCbCr, when they are named R, G, B and there is no JFIF marker */
    if (nf == 3 && !saw_jfif && comps[0].id == 'R' && comps[1].id == 'G' && comps[2].id == 'B') return DC_UNSUPPORTED;
    if (width != expected_w || height != expected_h) return DC_UNSUPPORTED; /* out was sized for those */
    int built[4] = {0};
    for (int c = 0; c < nf; c++) {
        if (!built[comps[c].ta]) build_multi(&tables->ac[comps[c].ta], tables->multi[comps[c].ta]);
        built[comps[c].ta] = 1;
    }
    return decode_scan(d, n, pos, tables, comps, nf, width, height, interval, out);
}

static PyObject *luma_dc_picture(PyObject *self, PyObject *args) {
    (void)self;
    Py_buffer data;
    Py_ssize_t width, height;
    if (!PyArg_ParseTuple(args, "y*nn", &data, &width, &height)) return NULL;
    if (width < 1 || height < 1 || width > 65535 || height > 65535) {
        PyBuffer_Release(&data);
        Py_RETURN_NONE;
    }
    size_t out_w = ((size_t)width + 7) / 8, out_h = ((size_t)height + 7) / 8;
    PyObject *out = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)(out_w * out_h));
    Tables *tables = malloc(sizeof(Tables));
    if (out == NULL || tables == NULL) {
        Py_XDECREF(out);
        free(tables);
        PyBuffer_Release(&data);
        return PyErr_NoMemory();
    }
    int status;
    Py_BEGIN_ALLOW_THREADS /* the ingest decodes photos in threads, one a core */
    status = luma_dc_decode(data.buf, (size_t)data.len, (size_t)width, (size_t)height,
                            (uint8_t *)PyBytes_AS_STRING(out), tables);
    Py_END_ALLOW_THREADS
    free(tables);
    PyBuffer_Release(&data);
    if (status != DC_OK) {
        Py_DECREF(out);
        Py_RETURN_NONE;
    }
    return out;
}

static PyMethodDef methods[] = {
    {"luma_dc_picture", luma_dc_picture, METH_VARARGS,
     "luma_dc_picture(data, width, height) -> bytes | None\n\n"
     "The JPEG's grey picture at 1/8 scale, ceil(width / 8) x ceil(height / 8) bytes row by row, exactly as\n"
     "libjpeg-turbo decodes it; None when the file is not a plain baseline JPEG of that size or shows damage."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, .m_name = "_jpeg_dc", .m_size = -1, .m_methods = methods};

PyMODINIT_FUNC PyInit__jpeg_dc(void) { return PyModule_Create(&module); }
