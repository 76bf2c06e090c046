package report

import (
	"os"
	"strings"
	"testing"
)

// BenchmarkParse parses each sample report.
func BenchmarkParse(b *testing.B) {
	for _, path := range samples(b) {
		src, err := os.ReadFile(path)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(strings.TrimPrefix(path, "testdata/"), func(b *testing.B) {
			b.SetBytes(int64(len(src)))
			for b.Loop() {
				if _, err := parse(src); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkParseLarge parses inputs near MaxInputSize in the shapes that
// once took minutes (a count per period word scanned every period word;
// texts were joined by copying; matching compared every area with every
// problem): parsing must stay linear in the input.
func BenchmarkParseLarge(b *testing.B) {
	cases := []struct{ name, text string }{
		{"zero counts in one clause", "一、存在的问题\n（一）问题\n二、下一步打算\n" + strings.Repeat("每月0次", 200000)},
		{"many sub-headings", "一、存在的问题\n（一）问题\n二、下一步打算\n（一）措施\n" + strings.Repeat("（1）每月召开1次会议\n", 140000)},
		{"many enumerations", "一、存在的问题\n（一）问题\n二、下一步打算\n（一）措施。" + strings.Repeat("一是每月召开1次会议；", 140000)},
		{"many cause labels", "一、存在的问题\n（一）问题。" + strings.Repeat("原因分析：学习不够；", 140000)},
		{"many problems and areas", "一、存在的问题\n" + strings.Repeat("（一）理论学习不够深入系统党员管理不严格。\n", 50000) + "二、下一步打算\n" + strings.Repeat("（一）深化理论学习每月召开1次会议。\n", 50000)},
		{"sample repeated", ""},
	}
	src, err := os.ReadFile("testdata/dongfeng_2019.txt")
	if err != nil {
		b.Fatal(err)
	}
	cases[len(cases)-1].text = strings.Repeat(string(src), MaxInputSize/len(src)-1)
	for _, c := range cases {
		in := []byte(c.text)
		if len(in) > MaxInputSize {
			in = in[:MaxInputSize]
		}
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(int64(len(in)))
			for b.Loop() {
				if _, err := parse(in); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
