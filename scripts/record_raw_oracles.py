"""Write the FITS test files of tests/data/raws and record the reference answers.

Run through scripts/record-raw-oracles.sh, which provides astropy and
astro_metadata_translator. Writes, into the directory given:

- edge-cases.fits (+ .gz): long CONTINUE strings, HIERARCH keys, D exponents, ''
  escapes, complex and undefined values, a binary table with a heap, an image after it;
- decam-raw.fits.fz: a DECam-shaped raw, a primary header and tile-compressed detector
  extensions (two science CCDs and one guide CCD);
- hsc-raw-*.fits: HSC-shaped raws, one detector each (one from the second
  commissioning run, whose focus CCDs were misnumbered, and a bias);
- decam-bias.fits.fz: a DECam bias (its filter is replaced by the reference's fix);
- headers.json: astropy's reading of every header of every file above;
- translated.json: astro_metadata_translator's ObservationInfo for each raw's
  detectors, in the units and frames valet's exposure records use;
- wcs-sip.fits: an image whose WCS is TAN with PC+CDELT and SIP distortion;
- wcs-tpv.fits: an image with a DECam raw's TPV WCS (its PV polynomial);
- wcs.json: astropy.wcs's sky positions of the pixel corners, edge midpoints and
  centre of every image HDU with a celestial WCS in the files above.
"""

import gzip
import json
import shutil
import sys
from pathlib import Path

import numpy as np
from astropy.io import fits

import astro_metadata_translator
from astro_metadata_translator import ObservationInfo
from astro_metadata_translator.headers import merge_headers

OUT = Path(sys.argv[1])
OUT.mkdir(parents=True, exist_ok=True)
TINY = np.arange(64, dtype=np.int16).reshape(8, 8)


def card(text):
    return fits.Card.fromstring(f"{text:<80}")


def edge_cases():
    primary = fits.PrimaryHDU(TINY)
    h = primary.header
    h["OBJECT"] = "M31 'core'"
    h["LONGSTR"] = ("a long string value " * 8).strip() + " end"
    h["EMPTY"] = ""
    h["LEADING"] = "  two spaces first"
    h["FLAG"] = True
    h["NOFLAG"] = False
    h["BIGINT"] = 9007199254740993
    h["NEGINT"] = -42
    h["EXPTIME"] = 30.25
    h["TINY"] = 1.5e-300
    h["COMPLEX"] = complex(1.5, -2.0)
    h["HIERARCH ESO DET CHIP NAME"] = "CCD-44"
    h["HIERARCH ESO TEL AIRM START"] = 1.234
    h.append(card("DEXP    =             1.5D+03 / a D exponent"))
    h.append(card("UNDEF   =                      / no value"))
    h.append(card("INTFLOAT=                  3. / trailing dot"))
    h["COMMENT"] = "commentary is not a keyword"
    h["HISTORY"] = "neither is history"
    h["DUP"] = 1
    h.append(("DUP", 2))
    table = fits.BinTableHDU.from_columns(
        [
            fits.Column(name="id", format="J", array=np.array([1, 2, 3])),
            fits.Column(
                name="var",
                format="PJ()",
                array=np.array([np.array([1, 2, 3]), np.array([4]), np.array([5, 6])], dtype=object),
            ),
        ],
        name="TABLE",
    )
    image = fits.ImageHDU(np.zeros((3, 5), dtype=np.float64), name="AFTER")
    image.header["AFTERKEY"] = "read past the heap"
    path = OUT / "edge-cases.fits"
    fits.HDUList([primary, table, image]).writeto(path, overwrite=True)
    with open(path, "rb") as f, open(OUT / "edge-cases.fits.gz", "wb") as raw:
        with gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as g:
            shutil.copyfileobj(f, g)
    return [path, OUT / "edge-cases.fits.gz"]


DECAM_PRIMARY = {
    "PROCTYPE": "RAW", "PRODTYPE": "image", "OBS-LONG": 70.81489, "TELESCOP": "CTIO 4.0-m telescope",
    "OBSERVAT": "CTIO", "OBS-LAT": -30.16606, "OBS-ELEV": 2215.0, "INSTRUME": "DECam",
    "EXPREQ": 30.0, "EXPTIME": 30.0, "DARKTIME": 31.1290202, "OBSID": "ct4m20130213t090140",
    "DATE-OBS": "2013-02-13T09:01:40.966998", "TIME-OBS": "09:01:40.966998", "MJD-OBS": 56336.3761686,
    "TIMESYS": "UTC", "EXPNUM": 177764, "OBJECT": "Field 17", "OBSTYPE": "object",
    "PROGRAM": "Large Scale Structure in COSMOS: A Calibration Field for DECam Extragalactic Surveys&",
    "PROPID": "2013A-0351", "SEQID": "field17", "SEQNUM": 1, "SEQTOT": 1,
    "FILTER": "g DECam SDSS c0001 4720.0 1520.0", "TELEQUIN": 2000.0, "RA": "18:02:33.333",
    "DEC": "-23:46:59.999", "TELRA": "18:02:42.907", "TELDEC": "-23:46:59.898",
    "TELFOCUS": "-2407.60,-1843.69,2387.06,28.26,-241.27,-0.00", "OUTTEMP": 14.2, "HUMIDITY": 32.0,
    "PRESSURE": 780.0, "ZD": 55.59, "AZ": 99.51, "AIRMASS": 1.77, "HA": "-04:10:35.01",
    "DTUTC": "2013-02-13T09:02:12", "RADESYS": "FK5", "EQUINOX": 2000.0,
}


def decam_extension(ccdnum, detpos, detector, crval):
    hdu = fits.CompImageHDU(TINY, compression_type="RICE_1")
    h = hdu.header
    for k, v in {
        "EXTNAME": detpos, "CCDNUM": ccdnum, "DETPOS": detpos, "DETECTOR": detector,
        "INHERIT": True, "BUNIT": "adu", "RADESYS": "FK5", "EQUINOX": 2000.0,
        "CTYPE1": "RA---TAN", "CTYPE2": "DEC--TAN", "CRVAL1": crval[0], "CRVAL2": crval[1],
        "CRPIX1": 4.5, "CRPIX2": 4.5, "CD1_1": -1.8249413473e-07, "CD1_2": 7.28535892432e-05,
        "CD2_1": -7.2849900453899e-05, "CD2_2": -1.82181666096e-07,
    }.items():
        h[k] = v
    return hdu


def decam():
    primary = fits.PrimaryHDU()
    for k, v in DECAM_PRIMARY.items():
        primary.header[k] = v
    exts = [
        decam_extension(25, "S1", "S3-111_107419-8-3", (270.678779, -23.783305)),
        decam_extension(1, "S29", "S3-06_123195-15-3", (270.95, -23.3)),
        decam_extension(63, "FS1", "S3-192_112213-3-2", (271.2, -24.3)),
    ]
    path = OUT / "decam-raw.fits.fz"
    fits.HDUList([primary, *exts]).writeto(path, overwrite=True)
    return path


HSC_BASE = {
    "UT-STR": "06:15:55.908", "UT": "06:15:55.927", "MJD-STR": 56598.26106374757,
    "DATE-OBS": "2013-11-02", "MJD": 56598.26106397435, "AIRMASS": 1.121626027604189,
    "AZIMUTH": 226.68922661, "ALTITUDE": 63.04359233, "PROP-ID": "o13015",
    "OBS-MOD": "IMAG", "RA": "21:22:59.982", "DEC": "+00:30:00.07", "RA2000": "21:22:59.982",
    "DEC2000": "+00:30:00.07", "EQUINOX": 2000.0, "TELESCOP": "Subaru", "INST-PA": "0.000",
    "INR-STR": 43.205407, "OUT-HUM": 33.1, "OUT-TMP": 272.35, "OUT-PRS": 621.7,
    "EXP-ID": "HSCA90402400", "EXPTIME": 30.0, "OBJECT": "STRIPE82L", "DATA-TYP": "OBJECT",
    "FILTER01": "HSC-i", "UT-END": "06:16:27.928", "MJD-END": 56598.26143435203,
    "FRAMEID": "HSCA90402512", "CTYPE1": "RA---TAN", "CTYPE2": "DEC--TAN", "CUNIT1": "deg",
    "CUNIT2": "deg", "CRPIX1": 4.5, "CRPIX2": 4.5, "CRVAL1": 320.749925, "CRVAL2": 0.500019444444,
    "CD1_1": 2.89152716465347e-21, "CD1_2": 4.72222222222222e-05, "CD2_1": -4.7222222222222e-05,
    "CD2_2": 2.89152716465347e-21, "T_CCDSN": "120", "FOC-VAL": 3.7,
}


def hsc():
    paths = []
    for det, frame, filt, exp in [(50, "HSCA90402512", "HSC-i", "HSCA90402400"),
                                  (0, "HSCA90402500", "HSC-i", "HSCA90402400"),
                                  (16, "HSCA90403016", "HSC-R2", "HSCA90403000")]:
        hdu = fits.PrimaryHDU(TINY)
        for k, v in HSC_BASE.items():
            hdu.header[k] = v
        hdu.header["DET-ID"] = det
        hdu.header["FRAMEID"] = frame
        hdu.header["FILTER01"] = filt
        hdu.header["EXP-ID"] = exp
        hdu.header["HIERARCH HSC EXTRA NOTE"] = "a HIERARCH key in a raw"
        path = OUT / f"hsc-raw-{frame}.fits"
        hdu.writeto(path, overwrite=True)
        paths.append(path)
    return paths


def decam_bias():
    primary = fits.PrimaryHDU()
    for k, v in DECAM_PRIMARY.items():
        primary.header[k] = v
    for k, v in {"OBSTYPE": "zero", "OBJECT": "bias", "EXPNUM": 177700, "EXPTIME": 0.0,
                 "DARKTIME": 0.52, "OBSID": "ct4m20130213t080000",
                 "DATE-OBS": "2013-02-13T08:00:00.5", "DTUTC": "2013-02-13T08:00:01"}.items():
        primary.header[k] = v
    ext = decam_extension(5, "S26", "S3-04_123194-13-3", (270.5, -23.5))
    path = OUT / "decam-bias.fits.fz"
    fits.HDUList([primary, ext]).writeto(path, overwrite=True)
    return path


def hsc_commissioning():
    hdu = fits.PrimaryHDU(TINY)
    for k, v in HSC_BASE.items():
        hdu.header[k] = v
    for k, v in {"DET-ID": 112, "EXP-ID": "HSCA00130000", "FRAMEID": "HSCA00130012",
                 "DATE-OBS": "2013-01-26", "MJD": 56318.7, "MJD-STR": 56318.7,
                 "DATA-TYP": "BIAS", "FILTER01": "HSC-G", "EXPTIME": 0.0}.items():
        hdu.header[k] = v
    path = OUT / "hsc-raw-HSCA00130012.fits"
    hdu.writeto(path, overwrite=True)
    return path


def value(v):
    if isinstance(v, bool):
        return {"t": "bool", "v": v}
    if isinstance(v, (int, np.integer)):
        return {"t": "int", "v": int(v)}
    if isinstance(v, (float, np.floating)):
        return {"t": "float", "v": float(v)}
    if isinstance(v, complex):
        return {"t": "complex", "v": [v.real, v.imag]}
    if isinstance(v, str):
        return {"t": "str", "v": v}
    return {"t": "undef", "v": None}


def headers(path):
    out = []
    with fits.open(path, disable_image_compression=True) as hdul:
        for hdu in hdul:
            cards = []
            for c in hdu.header.cards:
                if c.keyword in ("COMMENT", "HISTORY", "", "END"):
                    continue
                cards.append({"k": c.keyword, **value(c.value)})
            out.append(cards)
    return out


def isot(t):
    t = t.tai
    t.precision = 9
    return t.isot


def deg(a):
    return None if a is None else float(a.to_value("deg"))


def translated(path):
    out = []
    with fits.open(path, disable_image_compression=True) as hdul:
        primary = hdul[0].header
        candidates = [primary] if len(hdul) == 1 else []
        for hdu in hdul[1:]:
            if "CCDNUM" in hdu.header and hdu.header["CCDNUM"] <= 62:
                candidates.append(merge_headers([primary, hdu.header], mode="overwrite"))
        for h in candidates:
            info = ObservationInfo(h, filename=str(path))
            radec = info.tracking_radec.icrs if info.tracking_radec is not None else None
            out.append({
                "instrument": info.instrument,
                "detector_num": info.detector_num,
                "detector_name": info.detector_name,
                "detector_unique_name": info.detector_unique_name,
                "detector_group": info.detector_group,
                "physical_filter": info.physical_filter,
                "exposure_id": info.exposure_id,
                "visit_id": info.visit_id,
                "observation_id": info.observation_id,
                "datetime_begin": isot(info.datetime_begin),
                "datetime_end": isot(info.datetime_end),
                "exposure_time": float(info.exposure_time.to_value("s")),
                "dark_time": float(info.dark_time.to_value("s")),
                "observation_type": info.observation_type,
                "observation_reason": info.observation_reason,
                "science_program": info.science_program,
                "object": info.object,
                "tracking_ra": None if radec is None else float(radec.ra.deg),
                "tracking_dec": None if radec is None else float(radec.dec.deg),
                "altitude": deg(info.altaz_begin.alt) if info.altaz_begin is not None else None,
                "azimuth": deg(info.altaz_begin.az) if info.altaz_begin is not None else None,
                "zenith_angle": deg(info.altaz_begin.zen) if info.altaz_begin is not None else None,
                "boresight_rotation_angle": deg(info.boresight_rotation_angle),
                "boresight_rotation_coord": info.boresight_rotation_coord,
                "observing_day": info.observing_day,
                "observation_counter": info.observation_counter,
                "exposure_group": info.exposure_group,
                "can_see_sky": info.can_see_sky,
                "has_simulated_content": info.has_simulated_content,
            })
    return out


def sip():
    hdu = fits.PrimaryHDU(np.zeros((20, 30), dtype=np.int16))
    h = hdu.header
    for k, v in {
        "CTYPE1": "RA---TAN-SIP", "CTYPE2": "DEC--TAN-SIP", "CRVAL1": 359.95, "CRVAL2": -45.5,
        "CRPIX1": 14.2, "CRPIX2": 9.7, "CDELT1": -0.0025, "CDELT2": 0.0025,
        "PC1_1": 0.96, "PC1_2": -0.28, "PC2_1": 0.28, "PC2_2": 0.96,
        "A_ORDER": 2, "B_ORDER": 2, "A_2_0": 1.5e-4, "A_1_1": -2.0e-4, "A_0_2": 3.0e-5,
        "B_2_0": -1.0e-4, "B_1_1": 5.0e-5, "B_0_2": 2.5e-4,
    }.items():
        h[k] = v
    path = OUT / "wcs-sip.fits"
    hdu.writeto(path, overwrite=True)
    return path


def tpv():
    hdu = fits.PrimaryHDU(TINY)
    h = hdu.header
    pv1 = [0.0107262491558, 1.03899426784, -0.00253295758814, 0.0, 0.0440579429998,
           -0.00480948264558, 0.00735227852542, 0.01641672826, -0.00253592468977,
           0.00562233785525, -0.00235436587955]
    pv2 = [-0.000677378816994, 1.01170064187, -0.00154844123095, 0.0, -0.000974573910792,
           0.015516347937, -0.00176930825331, -0.00664988058298, -0.00246200658752,
           0.00641298947322, -0.000605534691727]
    for k, v in {
        "CTYPE1": "RA---TPV", "CTYPE2": "DEC--TPV", "CRVAL1": 270.678779, "CRVAL2": -23.783305,
        "CRPIX1": 2151.2, "CRPIX2": 14826.0, "CD1_1": -1.8249413473e-07, "CD1_2": 7.28535892432e-05,
        "CD2_1": -7.2849900453899e-05, "CD2_2": -1.82181666096e-07,
        **{f"PV1_{i}": c for i, c in enumerate(pv1)}, **{f"PV2_{i}": c for i, c in enumerate(pv2)},
    }.items():
        h[k] = v
    path = OUT / "wcs-tpv.fits"
    hdu.writeto(path, overwrite=True)
    return path


def wcs_points(path):
    from astropy.wcs import WCS
    out = []
    with fits.open(path) as hdul:
        for i, hdu in enumerate(hdul):
            h = hdu.header
            if "CTYPE1" not in h or hdu.data is None:
                continue
            ny, nx = hdu.data.shape
            pts = [(0.5, 0.5), (nx / 2 + 0.5, 0.5), (nx + 0.5, 0.5), (nx + 0.5, ny / 2 + 0.5),
                   (nx + 0.5, ny + 0.5), (nx / 2 + 0.5, ny + 0.5), (0.5, ny + 0.5), (0.5, ny / 2 + 0.5),
                   (nx / 2 + 0.5, ny / 2 + 0.5)]
            w = WCS(h)
            sky = w.all_pix2world(np.array(pts), 1)
            out.append({"hdu": i, "points": [[x, y, float(r), float(d)] for (x, y), (r, d) in zip(pts, sky)]})
    return out


files = edge_cases() + [decam(), decam_bias()] + hsc() + [hsc_commissioning(), sip(), tpv()]
(OUT / "headers.json").write_text(
    json.dumps({p.name: headers(p) for p in files}, indent=1) + "\n"
)
raws = [p for p in files if p.name.startswith(("decam", "hsc"))]
(OUT / "translated.json").write_text(
    json.dumps(
        {
            "astro_metadata_translator": astro_metadata_translator.__version__,
            "files": {p.name: translated(p) for p in raws},
        },
        indent=1,
    )
    + "\n"
)
(OUT / "wcs.json").write_text(
    json.dumps({p.name: wcs_points(p) for p in files if p.name.startswith(("decam", "hsc", "wcs"))}, indent=1)
    + "\n"
)
print(f"wrote {len(files)} FITS files and their answers to {OUT}")
