package report

import (
	"testing"
)

func TestReadQuantity(t *testing.T) {
	type want struct {
		period   string
		target   int // -1: count to be set (nil)
		min, max int
		unit     string
		activity string
		text     string // TargetText
	}
	promise := func(period string, target int, unit, activity, text string) *want {
		return &want{period: period, target: target, min: target, max: target, unit: unit, activity: activity, text: text}
	}
	ranged := func(period string, lo, hi int, unit, activity, text string) *want {
		return &want{period: period, target: lo, min: lo, max: hi, unit: unit, activity: activity, text: text}
	}
	unset := func(period, unit, activity, text string) *want {
		return &want{period: period, target: -1, unit: unit, activity: activity, text: text}
	}
	tests := []struct {
		in   string
		want *want // nil: not a promise
	}{
		// The shapes the issue names.
		{"每月召开1次专题会议", promise(PeriodMonth, 1, "次", "召开专题会议", "1次")},
		{"每周至少到分包社区走访2次", promise(PeriodWeek, 2, "次", "到分包社区走访", "2次")},
		{"每月走访弱势群体5户", promise(PeriodMonth, 5, "户", "走访弱势群体", "5户")},
		{"全年开展走访调研不少于4次", promise(PeriodYear, 4, "次", "开展走访调研", "不少于4次")},
		{"每季度召开两次党建联席会议", promise(PeriodQuarter, 2, "次", "召开党建联席会议", "两次")},
		{"每年开展集中学习十二次", promise(PeriodYear, 12, "次", "开展集中学习", "十二次")},
		{"每天走访1户困难群众", promise(PeriodDay, 1, "户", "走访困难群众", "1户")},
		{"每个工作日安排1名干部值班", promise(PeriodDay, 1, "名", "安排干部值班", "1名")},

		// Half a year reads as twice a year; half a month as twice a month.
		{"每半年召开一次联席会议", promise(PeriodYear, 2, "次", "召开联席会议", "一次")},
		{"每半月通报1次进展", promise(PeriodMonth, 2, "次", "通报进展", "1次")},
		{"每3个月开展1次督查", promise(PeriodQuarter, 1, "次", "开展督查", "1次")},
		{"每个季度开展1次督查", promise(PeriodQuarter, 1, "次", "开展督查", "1次")},
		{"每星期召开1次例会", promise(PeriodWeek, 1, "次", "召开例会", "1次")},

		// Chinese numerals.
		{"每周一次入户走访", promise(PeriodWeek, 1, "次", "入户走访", "一次")},
		{"每月走访两户", promise(PeriodMonth, 2, "户", "走访", "两户")},
		{"每年十二次", promise(PeriodYear, 12, "次", "", "十二次")},
		{"每年组织二十场宣讲", promise(PeriodYear, 20, "场", "组织宣讲", "二十场")},
		{"每年接待一百二十人次", promise(PeriodYear, 120, "人次", "接待", "一百二十人次")},
		{"每年走访两千零五户", promise(PeriodYear, 2005, "户", "走访", "两千零五户")},

		// Full-width digits and punctuation.
		{"每周２次", promise(PeriodWeek, 2, "次", "", "２次")},
		{"每周走访不少于２个社区", promise(PeriodWeek, 2, "个", "走访社区", "不少于２个")},
		{"每月召开１２次", promise(PeriodMonth, 12, "次", "召开", "１２次")},

		// Ranges: the target is the lower bound.
		{"每月开展3-5次", ranged(PeriodMonth, 3, 5, "次", "开展", "3-5次")},
		{"每月开展三至五次", ranged(PeriodMonth, 3, 5, "次", "开展", "三至五次")},
		{"每月开展3～5次", ranged(PeriodMonth, 3, 5, "次", "开展", "3～5次")},
		{"每月开展3到5次", ranged(PeriodMonth, 3, 5, "次", "开展", "3到5次")},
		{"每月开展3—5次", ranged(PeriodMonth, 3, 5, "次", "开展", "3—5次")},
		{"每周走访两三户", ranged(PeriodWeek, 2, 3, "户", "走访", "两三户")},
		{"每月至少1-2次开展主题党日活动", ranged(PeriodMonth, 1, 2, "次", "开展主题党日活动", "至少1-2次")},
		{"每半年召开1-2次座谈会", ranged(PeriodYear, 2, 4, "次", "召开座谈会", "1-2次")},

		// Qualifiers and the count after the activity.
		{"每年开展志愿服务2次以上", promise(PeriodYear, 2, "次", "开展志愿服务", "2次以上")},
		{"每月走访群众10余户", promise(PeriodMonth, 10, "户", "走访群众", "10余户")},
		{"每周至少2天在社区坐班", promise(PeriodWeek, 2, "天", "在社区坐班", "至少2天")},
		{"每名党员每年讲党课不得少于1次", promise(PeriodYear, 1, "次", "讲党课", "不得少于1次")},
		{"召开专题会议1次/月", promise(PeriodMonth, 1, "次", "召开专题会议", "1次")},
		{"走访企业2家/季度", promise(PeriodQuarter, 2, "家", "走访企业", "2家")},
		{"支委会每月召开2次", promise(PeriodMonth, 2, "次", "支委会召开", "2次")},
		{"全年每月召开1次", promise(PeriodMonth, 1, "次", "召开", "1次")},
		{"3个社区每月各走访1次", promise(PeriodMonth, 1, "次", "3个社区走访", "1次")},

		// Counts to be set.
		{"每周X次", unset(PeriodWeek, "次", "", "X次")},
		{"每周XX次入户走访", unset(PeriodWeek, "次", "入户走访", "XX次")},
		{"每月ｘ次", unset(PeriodMonth, "次", "", "ｘ次")},
		{"每月开展若干次", unset(PeriodMonth, "次", "开展", "若干次")},
		{"每月廿次", unset(PeriodMonth, "次", "", "廿次")},
		{"每年召开1000000次", unset(PeriodYear, "次", "召开", "1000000次")},

		// A rhythm no period fits.
		{"每两周组织一次学习", promise("", 1, "次", "组织学习", "一次")},
		{"每2周组织一次学习", promise("", 1, "次", "组织学习", "一次")},

		// Not promises.
		{"2019年召开专题会议12次", nil},
		{"全年共召开专题会议的比例达到100%", nil},
		{"每月完成率达到100%", nil},
		{"第一次全体会议", nil},
		{"每月第一周召开例会", nil},
		{"每月加班不超过3次", nil},
		{"每月接待不多于5户", nil},
		{"每月走访5户以内", nil},
		{"每月5日前报送", nil},
		{"每季度1.5次", nil},
		{"每月一次性发放补贴", nil},
		{"每周五下午召开例会", nil},
		{"每月零次", nil},
		{"每个社区配备1名党建指导员", nil},
		{"一年来共走访群众300余户", nil},
		{"每季度用1个月时间开展集中整治", nil},
		{"每日一学", nil},
		{"每天坚持学习1小时", nil},
		{"进一步加强党员教育管理", nil},
		{"", nil},
	}
	for _, tt := range tests {
		q, ok := ReadQuantity(tt.in)
		if tt.want == nil {
			if ok {
				t.Errorf("ReadQuantity(%q) = %+v, want no promise", tt.in, q)
			}
			continue
		}
		if !ok {
			t.Errorf("ReadQuantity(%q): no promise, want %+v", tt.in, *tt.want)
			continue
		}
		w := *tt.want
		got := want{period: q.Period, target: -1, min: q.Min, max: q.Max, unit: q.Unit, activity: q.Activity, text: q.TargetText}
		if q.Target != nil {
			got.target = *q.Target
		}
		if w.target < 0 {
			w.min, w.max = 0, 0
		}
		if got != w {
			t.Errorf("ReadQuantity(%q) =\n  %+v\nwant\n  %+v", tt.in, got, w)
		}
		if w.target < 0 && q.Note == "" {
			t.Errorf("ReadQuantity(%q): a count to be set needs a note", tt.in)
		}
	}
}

func TestLedgerFor(t *testing.T) {
	n := func(v int) *int { return &v }
	tests := []struct {
		name    string
		q       Quantity
		period  string
		target  int
		confirm bool
	}{
		{"week kept", Quantity{Period: PeriodWeek, Target: n(2)}, PeriodWeek, 2, false},
		{"month kept", Quantity{Period: PeriodMonth, Target: n(5)}, PeriodMonth, 5, false},
		{"quarter kept", Quantity{Period: PeriodQuarter, Target: n(1)}, PeriodQuarter, 1, false},
		{"a day becomes five working days", Quantity{Period: PeriodDay, Target: n(1)}, PeriodWeek, 5, true},
		{"four a year is one a quarter", Quantity{Period: PeriodYear, Target: n(4)}, PeriodQuarter, 1, true},
		{"twelve a year is three a quarter", Quantity{Period: PeriodYear, Target: n(12)}, PeriodQuarter, 3, true},
		{"two a year rounds up", Quantity{Period: PeriodYear, Target: n(2)}, PeriodQuarter, 1, true},
		{"ten a year rounds up", Quantity{Period: PeriodYear, Target: n(10)}, PeriodQuarter, 3, true},
		{"count to be set", Quantity{Period: PeriodWeek}, PeriodWeek, 0, true},
		{"no period fits", Quantity{Target: n(1)}, "", 1, true},
	}
	for _, tt := range tests {
		l := LedgerFor(tt.q)
		if l.Period != tt.period || l.Target != tt.target || l.Confirm != tt.confirm {
			t.Errorf("%s: LedgerFor = %+v, want %s %d confirm=%v", tt.name, l, tt.period, tt.target, tt.confirm)
		}
		if l.Confirm && l.Note == "" {
			t.Errorf("%s: a form to confirm needs a note", tt.name)
		}
	}
}
