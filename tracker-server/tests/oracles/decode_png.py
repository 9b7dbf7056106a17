#!/usr/bin/env python3
"""Test oracle: decode every barcode in a PNG with zxing-cpp; prints FORMAT<TAB>TEXT per symbol.

Usage: python3 decode_png.py LABEL.png   (needs `pip install zxing-cpp pillow`)
"""
import sys

import zxingcpp
from PIL import Image

img = Image.open(sys.argv[1]).convert("L")
for b in zxingcpp.read_barcodes(img):
    print(f"{b.format.name}\t{b.text}")
