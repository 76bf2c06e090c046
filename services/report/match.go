package report

// Tying next year's work (and causes written in a section of their own) to
// the problems they answer.
//
// Reports usually answer problem (一) with work area (一), (二) with (二):
// when there are as many areas as problems and no area is clearly about
// another problem than its own number, they are matched by order.
// Otherwise each area goes to the problem it shares the most words with,
// and stays unmatched when no problem clearly wins.
//
// "Words" are pairs of neighbouring Chinese characters (Chinese has no
// spaces to split on; pairs catch most two-character words and the parts
// of longer ones). A pair found in several problems says little about
// which one an area answers, so each counts 1/n when n problems contain
// it; pairs that occur everywhere in such reports (工作, 加强, 问题 …) do
// not count at all. An area is "clearly about" a problem when it scores at
// least minScore with it and half as much again as with any other.

const (
	minScore = 2.0
	// lead is how much more an area must share with another problem than
	// with the one of its own number to break the order.
	lead = 1.0
)

// stopPairs are pairs too common in reports to tell problems apart.
var stopPairs = func() map[string]bool {
	m := map[string]bool{}
	for _, w := range []string{
		"工作", "进一", "一步", "加强", "不够", "问题", "存在", "提升", "推进", "落实", "开展", "建立", "完善",
		"强化", "深化", "有待", "不足", "不强", "不高", "方面", "部分", "个别", "一是", "二是", "三是", "四是",
		"五是", "原因", "分析", "措施", "情况", "全年", "每月", "每周", "季度", "不少", "少于", "至少", "我们",
		"街道", "党工", "工委", "重点", "机制", "制度", "进行", "认真", "积极", "切实", "持续", "充分", "做好",
		"会议", "召开", "每半", "半年", "每季", "一次", "每年",
	} {
		m[w] = true
	}
	return m
}()

// pairs returns the set of neighbouring Chinese character pairs in s.
func pairs(s string) map[string]bool {
	m := map[string]bool{}
	var prev rune
	for _, r := range s {
		if isHan(r) && isHan(prev) {
			p := string([]rune{prev, r})
			if !stopPairs[p] {
				m[p] = true
			}
		}
		prev = r
	}
	return m
}

// maxShared is the most problems a pair may occur in and still count: a
// pair in more says next to nothing (each would add at most 1/maxShared),
// and skipping it keeps scoring linear in the text even for a file with
// thousands of "problems".
const maxShared = 16

// scorer scores texts against a fixed list of problems, through an index
// from each pair to the problems containing it.
type scorer struct {
	n    int
	post map[string][]int
}

func newScorer(problems []string) scorer {
	s := scorer{n: len(problems), post: map[string][]int{}}
	for i, p := range problems {
		for k := range pairs(p) {
			s.post[k] = append(s.post[k], i)
		}
	}
	return s
}

// scores returns the score of text with every problem it shares a pair
// with.
func (s scorer) scores(text string) map[int]float64 {
	out := map[int]float64{}
	for k := range pairs(text) {
		ps := s.post[k]
		if len(ps) == 0 || len(ps) > maxShared {
			continue
		}
		w := 1 / float64(len(ps))
		for _, i := range ps {
			out[i] += w
		}
	}
	return out
}

// best returns the problem that text is clearly about, or -1.
func (s scorer) best(text string) int {
	best, top, second := -1, 0.0, 0.0
	for i, v := range s.scores(text) {
		switch {
		case v > top || v == top && i < best:
			best, top, second = i, v, max(second, top)
		default:
			second = max(second, v)
		}
	}
	if best < 0 || top < minScore || top < 1.5*second {
		return -1
	}
	return best
}

// match ties each of texts to a problem index (-1: none) and says how:
// MatchOrder when the texts correspond to the problems one by one,
// MatchKeywords otherwise.
func (s scorer) match(texts []string) ([]int, string) {
	out := make([]int, len(texts))
	if s.n == 0 {
		for i := range out {
			out[i] = -1
		}
		return out, MatchUnmatched
	}
	if len(texts) == s.n {
		ordered := true
		for j, t := range texts {
			sc := s.scores(t)
			for i, v := range sc {
				if i != j && v > sc[j]+lead && v >= minScore {
					ordered = false
				}
			}
		}
		if ordered {
			for j := range out {
				out[j] = j
			}
			return out, MatchOrder
		}
	}
	for j, t := range texts {
		out[j] = s.best(t)
	}
	return out, MatchKeywords
}
