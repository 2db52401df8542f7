(function(){
  var search=document.getElementById('search');
  var selects=['domain','owner','tag'].map(function(n){return document.getElementById(n+'-filter');});
  var items=Array.prototype.slice.call(document.querySelectorAll('li.product'));
  var count=document.getElementById('count');
  function apply(){
    var words=search.value.toLowerCase().split(/\s+/).filter(Boolean);
    var shown=0;
    items.forEach(function(li){
      var text=li.getAttribute('data-text');
      var ok=words.every(function(w){return text.indexOf(w)>=0;});
      if(selects[0].value&&li.getAttribute('data-domain')!==selects[0].value)ok=false;
      if(selects[1].value&&li.getAttribute('data-owner')!==selects[1].value)ok=false;
      if(selects[2].value&&(' '+li.getAttribute('data-tags')+' ').indexOf(' '+selects[2].value+' ')<0)ok=false;
      li.style.display=ok?'':'none'; if(ok)shown++;
    });
    count.textContent=shown+(shown===1?' product':' products');
  }
  search.addEventListener('input',apply);
  selects.forEach(function(s){s.addEventListener('change',apply);});
  var q=new URLSearchParams(window.location.search).get('q'); if(q){search.value=q;}
  apply();
})();
