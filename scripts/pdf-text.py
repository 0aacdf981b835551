"""Prints the text of each page of a PDF as a JSON array (pypdf), for the tests."""

import json
import sys

import pypdf

reader = pypdf.PdfReader(sys.argv[1])
print(json.dumps([page.extract_text() for page in reader.pages]))
