"""report.html's stylesheet and script, inlined into the page: it must open with no network."""

from __future__ import annotations

# Only inline styles and scripts and data: images may load: the file is one self-contained page,
# and a browser refuses (and logs) anything else it would otherwise fetch.
CSP = "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:"

CSS = """
:root{--fg:#1f2328;--muted:#59636e;--line:#d1d9e0;--bg:#fff;--soft:#f6f8fa;--bad:#cf222e;--good:#1a7f37}
*{box-sizing:border-box}
body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;
color:var(--fg);background:var(--bg)}
main{max-width:1180px;margin:0 auto;padding:20px 24px 40px}
h1{font-size:22px;margin:0 0 4px;display:flex;align-items:center;gap:12px}
h2{font-size:16px;margin:28px 0 10px;padding-bottom:4px;border-bottom:1px solid var(--line)}
.verdict{font-size:13px;font-weight:700;letter-spacing:.05em;padding:3px 10px;border-radius:12px;color:#fff}
.verdict.pass{background:var(--good)}.verdict.fail{background:var(--bad)}
.run{color:var(--muted);margin:0}
.incomplete{background:#fff8c5;border:1px solid #d4a72c;padding:6px 10px;border-radius:6px;margin:8px 0}
.cards{display:flex;flex-wrap:wrap;gap:10px;margin:14px 0 0}
.card{border:1px solid var(--line);border-radius:8px;padding:8px 14px;min-width:120px;background:var(--soft)}
.card b{display:block;font-size:20px}.card span{color:var(--muted);font-size:12px}
.card.bad b{color:var(--bad)}
svg{display:block;width:100%;height:auto;font-size:11px}
svg text{fill:var(--fg)}svg .muted{fill:var(--muted)}
.grid{stroke:#eaeef2}.axis{stroke:#8c959f}
.seg:hover,.cut:hover,.fail:hover,.sig:hover{stroke:#000;stroke-width:1.5}
.fail{stroke:#222;stroke-width:.7;fill-opacity:.9}.fail.dense{stroke:none;fill-opacity:.6}
.legend{display:flex;flex-wrap:wrap;gap:4px 16px;margin:8px 0 0;font-size:12px;color:var(--muted)}
.legend i{display:inline-block;width:14px;height:10px;margin-right:5px;vertical-align:-1px;border-radius:2px}
.legend i.dot{width:10px;height:10px;border-radius:50%}
.note{color:var(--muted);font-size:12px;margin:4px 0}
table{border-collapse:collapse;width:100%;font-size:13px}
th,td{text-align:left;padding:5px 8px;border-bottom:1px solid var(--line);vertical-align:top}
th{background:var(--soft);font-weight:600}th.n{text-align:right}td.where{white-space:nowrap;font-size:12px}td.n{text-align:right;font-variant-numeric:tabular-nums}
code{font:12px ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;background:var(--soft);padding:1px 4px;
border-radius:4px}
.finding{border:1px solid var(--line);border-left:4px solid var(--bad);border-radius:6px;padding:10px 14px;
margin:0 0 12px}
.finding p{margin:4px 0}.finding .where{color:var(--muted);font-size:12px}
.cause{display:inline-block;white-space:nowrap;font-size:12px;font-weight:600;padding:1px 8px;
border-radius:10px;color:#fff}
pre.src{margin:8px 0 0;background:var(--soft);border:1px solid var(--line);border-radius:6px;padding:6px 0;
overflow-x:auto;font:12px/1.5 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}
pre.src span{display:block;padding:0 10px;white-space:pre}pre.src span.hit{background:#fff1b8}
pre.src em{font-style:normal;color:var(--muted);display:inline-block;width:3.5em;user-select:none}
details summary{cursor:pointer;color:var(--muted);margin:6px 0}
#tip{position:fixed;pointer-events:none;z-index:10;max-width:420px;background:#24292f;color:#fff;
font-size:12px;line-height:1.4;padding:6px 9px;border-radius:6px;box-shadow:0 4px 12px #0004;display:none;
white-space:pre-line}
.could{display:flex;flex-wrap:wrap;gap:0 28px}.could>div{flex:1 1 420px}
.could h3{font-size:14px;margin:10px 0 4px}.could ul{margin:0;padding-left:18px}.could li{margin:0 0 6px}
table.small{width:auto;font-size:12px;margin:4px 0 0}
footer{margin-top:30px;color:var(--muted);font-size:12px}
"""

# Tooltips: lane segments, cut-offs and signals carry their text (data-tip); a failure mark
# carries the index of its request in the page's JSON (data-f), to keep thousands of marks small;
# that JSON holds each column's distinct values once and the rows as indices into them.
JS = """
(function(){
  var tip=document.getElementById('tip');
  var data=document.getElementById('failures');
  var table=data?JSON.parse(data.textContent):{columns:[],values:[],rows:[]};
  function failure(i){
    var row=table.rows[i];if(!row)return null;
    var f={};table.columns.forEach(function(c,k){f[c]=table.values[k][row[k]];});return f;
  }
  function text(el){
    if(el.hasAttribute('data-tip'))return el.getAttribute('data-tip');
    var f=failure(+el.getAttribute('data-f'));
    if(!f)return '';
    var lines=['request #'+f.seq+' at '+f.time.toFixed(3)+' s: '+f.outcome+(f.detail?' ('+f.detail+')':''),
      'cause: '+f.cause+(f.evidence?'  ·  evidence: '+f.evidence:''),
      'pod: '+(f.pod||'-')+'  ·  node: '+(f.node||'-')+'  ·  phase: '+(f.phase||'-'),
      'connection: '+(f.connection||'-')+(f.reused?' (reused keep-alive)':' (new)')+
        (f.latencyMs!=null?'  ·  '+f.latencyMs+' ms':'')];
    if(f.candidates&&f.candidates.length)lines.push('candidates: '+f.candidates.join(', '));
    if(f.reason)lines.push(f.reason);
    return lines.join('\\n');
  }
  document.addEventListener('mouseover',function(e){
    var el=e.target.closest('[data-tip],[data-f]');
    if(!el){tip.style.display='none';return;}
    tip.textContent=text(el);tip.style.display='block';
  });
  document.addEventListener('mousemove',function(e){
    if(tip.style.display!=='block')return;
    var x=e.clientX+14,y=e.clientY+14,w=tip.offsetWidth,h=tip.offsetHeight;
    if(x+w>innerWidth-4)x=e.clientX-w-14;if(y+h>innerHeight-4)y=e.clientY-h-14;
    tip.style.left=x+'px';tip.style.top=y+'px';
  });
})();
"""
