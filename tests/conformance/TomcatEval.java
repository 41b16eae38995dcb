import jakarta.el.*;
import java.io.*;
import java.util.*;
// Evaluates each line of stdin with Tomcat's EL (Debian libtomcat10-java) and prints it with its
// result as JSON: how tests/conformance/collections.jsonl was made (see README.md there).
public class TomcatEval {
  static String q(String s){StringBuilder b=new StringBuilder("\"");for(char c:s.toCharArray()){if(c=='"'||c=='\\')b.append('\\');if(c<32)b.append(String.format("\\u%04x",(int)c));else b.append(c);}return b.append('"').toString();}
  static String json(Object o){
    if(o==null)return "null";
    if(o instanceof String)return q((String)o);
    if(o instanceof Boolean)return o.toString();
    if(o instanceof Long||o instanceof Integer)return "{\"int\":"+o+"}";
    if(o instanceof Double)return "{\"float\":"+q(o.toString())+"}";
    if(o instanceof java.math.BigDecimal)return "{\"decimal\":"+q(o.toString())+"}";
    if(o instanceof Map){StringBuilder b=new StringBuilder("{\"map\":[");boolean f=true;for(Object e:((Map)o).entrySet()){Map.Entry en=(Map.Entry)e;if(!f)b.append(',');f=false;b.append("["+json(en.getKey())+","+json(en.getValue())+"]");}return b.append("]}").toString();}
    if(o instanceof Set){StringBuilder b=new StringBuilder("{\"set\":[");boolean f=true;for(Object e:(Set)o){if(!f)b.append(',');f=false;b.append(json(e));}return b.append("]}").toString();}
    if(o instanceof List){StringBuilder b=new StringBuilder("[");boolean f=true;for(Object e:(List)o){if(!f)b.append(',');f=false;b.append(json(e));}return b.append("]").toString();}
    if(o instanceof org.apache.el.stream.Optional){try{return "{\"optional\":"+json(((org.apache.el.stream.Optional)o).orElse(null))+"}";}catch(Exception e){return "?";}}
    return "{\"other\":"+q(o.getClass().getName())+"}";
  }
  public static void main(String[] a) throws Exception {
    BufferedReader r=new BufferedReader(new InputStreamReader(System.in));
    String line;
    while((line=r.readLine())!=null){
      if(line.isBlank())continue;
      ELProcessor p=new ELProcessor();
      p.defineBean("l", new ArrayList<Object>(List.of(3L,1L,2L)));
      p.defineBean("s", new ArrayList<Object>(List.of("b","a","10","9")));
      String out;
      try{Object v=p.eval(line);out="{\"ok\":"+json(v)+"}";}
      catch(Throwable e){out="{\"error\":"+q(e.getClass().getSimpleName()+": "+e.getMessage())+"}";}
      System.out.println(q(line)+"\t"+out);
    }
  }
}
