"""Pictures and reports: dataset exploration, run reports (PNG + one self-contained HTML), comparisons."""
