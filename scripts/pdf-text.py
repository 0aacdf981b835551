"""Prints the text of each page of a PDF as a JSON array (pypdf), for the tests;
with --images, the number of images on each page instead."""

import json
import sys

import pypdf

reader = pypdf.PdfReader(sys.argv[1])
if "--images" in sys.argv[2:]:
    print(json.dumps([len(page.images) for page in reader.pages]))
else:
    print(json.dumps([page.extract_text() for page in reader.pages]))
