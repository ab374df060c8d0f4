#!/bin/sh
# plot.sh — draws curves from metrics CSV files (nnc --metrics=...) as one SVG, in POSIX
# sh + awk (no Python needed).
#   plot.sh OUT.svg TITLE XCOL YCOL LABEL=FILE.csv [LABEL=FILE.csv ...]
# XCOL and YCOL name CSV header columns (epoch, step, train_loss, eval_loss, eval_metric...).
set -eu
[ $# -ge 5 ] || { echo "usage: plot.sh OUT.svg TITLE XCOL YCOL LABEL=FILE.csv..." >&2; exit 2; }
out=$1 title=$2 xcol=$3 ycol=$4
shift 4
for spec in "$@"; do
  label=${spec%%=*} file=${spec#*=}
  awk -F, -v label="$label" -v xc="$xcol" -v yc="$ycol" '
    NR == 1 { for (i = 1; i <= NF; i++) { if ($i == xc) xi = i; if ($i == yc) yi = i }; next }
    xi && yi && $yi != "" && $yi != "nan" { print label "," $xi "," $yi }' "$file"
done | awk -F, -v title="$title" -v xlab="$xcol" -v ylab="$ycol" '
  { lab[NR] = $1; x[NR] = $2 + 0; y[NR] = $3 + 0; n = NR
    if (!($1 in seen)) { seen[$1] = ++ns; names[ns] = $1 }
    if (n == 1 || x[n] < x0) x0 = x[n]; if (n == 1 || x[n] > x1) x1 = x[n]
    if (n == 1 || y[n] < y0) y0 = y[n]; if (n == 1 || y[n] > y1) y1 = y[n] }
  function px(v) { return 70 + (x1 > x0 ? (v - x0) / (x1 - x0) : 0.5) * 500 }
  function py(v) { return 330 - (y1 > y0 ? (v - y0) / (y1 - y0) : 0.5) * 280 }
  END {
    split("#1f77b4 #d62728 #2ca02c #ff7f0e #9467bd #8c564b", col, " ")
    print "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"720\" height=\"400\" font-family=\"sans-serif\" font-size=\"12\">"
    print "<rect width=\"720\" height=\"400\" fill=\"white\"/>"
    printf "<text x=\"320\" y=\"25\" text-anchor=\"middle\" font-size=\"15\">%s</text>\n", title
    print "<path d=\"M70 50 V330 H570\" stroke=\"black\" fill=\"none\"/>"
    for (k = 0; k <= 4; k++) {
      vy = y0 + (y1 - y0) * k / 4; vx = x0 + (x1 - x0) * k / 4
      printf "<text x=\"64\" y=\"%.1f\" text-anchor=\"end\">%.3g</text>\n", py(vy) + 4, vy
      printf "<text x=\"%.1f\" y=\"348\" text-anchor=\"middle\">%.4g</text>\n", px(vx), vx
      printf "<path d=\"M70 %.1f H570\" stroke=\"#ddd\"/>\n", py(vy)
    }
    printf "<text x=\"320\" y=\"375\" text-anchor=\"middle\">%s</text>\n", xlab
    printf "<text x=\"18\" y=\"190\" text-anchor=\"middle\" transform=\"rotate(-90 18 190)\">%s</text>\n", ylab
    for (s = 1; s <= ns; s++) {
      d = ""
      for (i = 1; i <= n; i++) if (lab[i] == names[s]) d = d (d == "" ? "M" : " L") sprintf("%.1f %.1f", px(x[i]), py(y[i]))
      c = col[(s - 1) % 6 + 1]
      printf "<path d=\"%s\" stroke=\"%s\" stroke-width=\"2\" fill=\"none\"/>\n", d, c
      for (i = 1; i <= n; i++) if (lab[i] == names[s]) printf "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"2.5\" fill=\"%s\"/>\n", px(x[i]), py(y[i]), c
      printf "<rect x=\"585\" y=\"%d\" width=\"14\" height=\"3\" fill=\"%s\"/><text x=\"605\" y=\"%d\">%s</text>\n", 55 + 20 * s, c, 60 + 20 * s, names[s]
    }
    print "</svg>"
  }' > "$out"
echo "plot: $out"
